import { createServer, type AddressInfo, type Server } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AedesLevelPersistence } from '../../src/store/aedes-persistence.js';
import { LevelStore } from '../../src/store/level-store.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'roost-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

interface RunningBroker {
  readonly port: number;
  readonly store: LevelStore;
  close(): Promise<void>;
}

/** Bare aedes on our persistence, closed in the order docs/store.md gives. */
async function startBroker(dataDir: string): Promise<RunningBroker> {
  const store = await LevelStore.open({ dataDir, durability: 'os', maxQueuedMessages: 100 });
  const persistence = new AedesLevelPersistence(store);
  const engine = new Aedes({ persistence });
  await engine.listen();
  const server: Server = createServer(engine.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    store,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => engine.close(() => resolve()));
      await persistence.destroy();
      await store.close();
    },
  };
}

async function client(port: number, options: IClientOptions): Promise<MqttClient> {
  return mqtt.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 0, ...options });
}

function nextMessage(c: MqttClient, timeoutMs = 5_000): Promise<IPublishPacket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message')), timeoutMs);
    c.once('message', (_t, _p, packet) => {
      clearTimeout(timer);
      resolve(packet);
    });
  });
}

describe('aedes on the LevelDB persistence', () => {
  it('delivers what was queued for an offline persistent session, and retained messages, after a broker restart', async () => {
    const dir = join(root, 'data');
    let broker = await startBroker(dir);
    try {
      const sub = await client(broker.port, { clientId: 'sub-1', clean: false, protocolVersion: 4 });
      await sub.subscribeAsync('fleet/+/alarm', { qos: 1 });
      await sub.endAsync();

      const pub = await client(broker.port, { clientId: 'pub-1', protocolVersion: 5 });
      await pub.publishAsync('fleet/7/alarm', 'overheat', {
        qos: 1,
        properties: { correlationData: Buffer.from([1, 2, 3]), userProperties: { unit: 'C' }, contentType: 'text/plain' },
      });
      await pub.publishAsync('fleet/status', 'ok', { qos: 1, retain: true });
      await pub.endAsync();
      await broker.close();

      broker = await startBroker(dir);
      const back = await client(broker.port, { clientId: 'sub-1', clean: false, protocolVersion: 4 });
      const queued = await nextMessage(back);
      expect(queued.topic).toBe('fleet/7/alarm');
      expect(queued.payload.toString()).toBe('overheat');
      expect(queued.qos).toBe(1);
      await back.endAsync();

      const late = await client(broker.port, { clientId: 'late', protocolVersion: 5 });
      const retained = nextMessage(late);
      await late.subscribeAsync('fleet/#', { qos: 0 });
      const r = await retained;
      expect([r.topic, r.payload.toString(), r.retain]).toEqual(['fleet/status', 'ok', true]);
      await late.endAsync();
      // acked, so nothing left queued for sub-1
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(broker.store.queues.length('mqtt:sub-1')).toBe(0);
    } finally {
      await broker.close();
    }
  });
});
