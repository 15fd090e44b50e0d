import { createServer, type AddressInfo, type Server } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { IPublishPacket as RawPublish } from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AedesLevelPersistence } from '../../src/store/aedes-persistence.js';
import { LevelStore } from '../../src/store/level-store.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';

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
  readonly engine: Aedes;
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
    engine,
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

describe('packet identifiers of a resumed session', () => {
  it('never gives a new delivery an id that a stored, unacknowledged packet holds [MQTT-2.2.1-3]', async () => {
    const dir = join(root, 'data');
    const session = { id: 'meter-9' };
    const packet = (n: number, qos: 1 | 2) => ({
      cmd: 'publish',
      topic: `meters/${n}`,
      payload: Buffer.from(`m${n}`),
      qos,
      retain: false,
      dup: false,
      brokerId: 'earlier-run',
      brokerCounter: n,
    });
    {
      // As a crash leaves it: m1 (QoS 1) queued without an id, m2 (QoS 2) sent as id 7 and never acknowledged.
      const store = await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 100 });
      const persistence = new AedesLevelPersistence(store);
      await persistence.addSubscriptions(session, [{ topic: 'meters/#', qos: 2 }]);
      await persistence.outgoingEnqueue({ clientId: session.id }, packet(1, 1));
      await persistence.outgoingEnqueue({ clientId: session.id }, packet(2, 2));
      await persistence.outgoingUpdate(session, { ...packet(2, 2), messageId: 7 });
      await store.close();
    }
    const broker = await startBroker(dir);
    try {
      // The counter starts at random; pin it to the stored id, which m1 would otherwise be given.
      broker.engine.on('client', (c) => {
        (c as unknown as { _nextId: number })._nextId = 7;
      });
      const sub = await RawMqtt.connected(broker.port, 4, { clientId: session.id, clean: false });
      const first = (await sub.next('publish')) as RawPublish;
      const second = (await sub.next('publish')) as RawPublish;
      expect([first.payload.toString(), second.payload.toString()]).toEqual(['m1', 'm2']);
      expect(second.messageId).toBe(7);
      expect(second.dup).toBe(true);
      expect(first.messageId).not.toBe(7);
      sub.destroy();
    } finally {
      await broker.close();
    }
  });
});
