import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Aedes } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Authorizer } from '../../src/auth/index.js';
import { Router, type RouterOptions } from '../../src/core/router.js';
import { AedesLevelPersistence, LevelStore } from '../../src/store/index.js';
import { closeMqttEngine, createMqttEngine } from '../../protocols/mqtt/engine.js';
import { MqttListener } from '../../protocols/mqtt/listener.js';
import { testConfig } from '../helpers/broker.js';

/**
 * Flow control between publishers and live subscribers, on the MQTT engine
 * composed as the broker composes it, with router limits small enough that a
 * burst of a few tens of MB goes past them whatever the kernel buffers hold.
 */
const LIMITS: RouterOptions = { maxPendingPerTarget: 200, holdAbovePending: 20, stallTimeoutMs: 500 };
const PAYLOAD_BYTES = 16 * 1024;
const BURST = 2_500; // 40 MB

interface Engine {
  readonly router: Router;
  readonly port: number;
  close(): Promise<void>;
}

async function startEngine(options: RouterOptions): Promise<Engine> {
  const dataDir = await mkdtemp(join(tmpdir(), 'roost-flow-'));
  const config = testConfig({ dataDir });
  const store = await LevelStore.open({ dataDir, durability: 'os', maxQueuedMessages: config.mqtt.maxQueuedMessages });
  const router = new Router(options);
  const engine: Aedes = await createMqttEngine({
    config: config.mqtt,
    authorizer: new Authorizer({ allowAnonymous: true }),
    router,
    persistence: new AedesLevelPersistence(store),
    log: pino({ level: 'silent' }),
  });
  const listener = await MqttListener.listen(engine, '127.0.0.1', 0);
  return {
    router,
    port: listener.port,
    async close() {
      void listener.stopAccepting();
      await closeMqttEngine(engine);
      await listener.close();
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A v3.1.1 subscriber on a bare socket that records the sequence number at the start of each payload. */
class Subscriber {
  readonly seqs: number[] = [];
  readonly #parser = mqttPacket.parser({ protocolVersion: 4 });
  #subacked: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('error', () => undefined);
    this.#parser.on('packet', (packet) => {
      if (packet.cmd === 'publish') this.seqs.push((packet.payload as Buffer).readUInt32BE(0));
      else if (packet.cmd === 'suback') this.#subacked?.();
    });
  }

  static async connect(port: number, clientId: string, filter: string): Promise<Subscriber> {
    const socket = netConnect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const sub = new Subscriber(socket);
    const subacked = new Promise<void>((resolve) => (sub.#subacked = resolve));
    socket.on('data', (chunk: Buffer) => sub.#parser.parse(chunk));
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 }));
    socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 0 }] }));
    await subacked;
    return sub;
  }

  /** Stops reading for good: the kernel buffers fill, then the broker's. */
  freeze(): void {
    this.socket.pause();
    this.socket.removeAllListeners('data');
  }

  /** Reads at most `bytesPerTick` every `tickMs`: slower than the publisher, but always making progress. */
  readSlowly(bytesPerTick: number, tickMs: number): void {
    this.socket.removeAllListeners('data');
    this.socket.pause();
    const timer = setInterval(() => {
      let budget = bytesPerTick;
      while (budget > 0) {
        const n = Math.min(budget, this.socket.readableLength);
        const chunk = n > 0 ? (this.socket.read(n) as Buffer | null) : null;
        if (chunk === null) {
          this.socket.read(0); // ask the socket to fill its buffer again
          break;
        }
        budget -= chunk.length;
        this.#parser.parse(chunk);
      }
    }, tickMs);
    this.socket.once('close', () => clearInterval(timer));
  }

  async received(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.seqs.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}

/** Writes `count` QoS 0 PUBLISH packets to `topic` as fast as the socket takes them; payloads start with 0, 1, 2, … */
async function burst(port: number, topic: string, count: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `pub-${topic}`, clean: true, keepalive: 0 }));
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
  for (let seq = 0; seq < count; seq++) {
    payload.writeUInt32BE(seq, 0);
    socket.write(mqttPacket.generate({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }));
  }
  return socket;
}

const inOrder = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

describe('flow control between publishers and live subscribers', () => {
  let engine: Engine;
  const sockets: Socket[] = [];

  beforeEach(async () => {
    engine = await startEngine(LIMITS);
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await engine.close();
  });

  it('loses no QoS 0 message to a slow subscriber that keeps reading: the publisher is held back instead', async () => {
    const slow = await Subscriber.connect(engine.port, 'slow', 'flow/#');
    sockets.push(slow.socket);
    slow.readSlowly(64 * 1024, 2);
    sockets.push(await burst(engine.port, 'flow/a', BURST));
    await slow.received(BURST, 20_000);
    expect(slow.seqs).toEqual(inOrder(BURST));
    expect(engine.router.stats.droppedSlow).toBe(0);
    // The burst went past the limits, so it was the hold that kept it whole.
    expect(engine.router.stats.held).toBeGreaterThan(0);
  });

  it('does not let a frozen subscriber stall another one; its QoS 0 past the cap is dropped and counted', async () => {
    const frozen = await Subscriber.connect(engine.port, 'frozen', 'flow/#');
    sockets.push(frozen.socket);
    frozen.freeze();
    const healthy = await Subscriber.connect(engine.port, 'healthy', 'flow/#');
    sockets.push(healthy.socket);
    sockets.push(await burst(engine.port, 'flow/b', BURST));
    await healthy.received(BURST, 20_000);
    expect(healthy.seqs).toEqual(inOrder(BURST));
    expect(engine.router.stats.stalled).toBeGreaterThan(0);
    expect(engine.router.stats.droppedSlow).toBeGreaterThan(0);
  });
});
