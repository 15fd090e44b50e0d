import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StompDecoder, header, type StompFrame } from '../../protocols/stomp/codec.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Rng, connectionSeed, fuzzPlan, parseSeed, type FuzzPlan } from '../helpers/fuzz-gen.js';
import { connect, end } from '../helpers/mqtt.js';
import { RawStomp } from '../helpers/stomp.js';
import { httpGet } from '../helpers/ws.js';

/**
 * A seeded, time-bounded fuzz run against one live broker: hundreds of
 * short-lived connections (TCP and WebSocket) throw random bytes and mutated
 * MQTT packets and STOMP frames at it, several at a time, while a
 * well-behaved MQTT pair and STOMP queue pair keep exchanging numbered
 * messages. Afterwards: nothing lost, nothing thrown, memory bounded, every
 * fuzz connection gone. See docs/fuzzing.md for longer runs and replays.
 */

const DEFAULT_SEED = 0x5eed2026;
const seed = parseSeed(process.env['ROOST_FUZZ_SEED'], DEFAULT_SEED);
const durationMs = positiveInt('ROOST_FUZZ_MS', 8_000);
const parallel = positiveInt('ROOST_FUZZ_PARALLEL', 8);
/** One numbered message per pair every this many ms. */
const WATCH_INTERVAL_MS = 20;
/** No fuzz connection outlives this, whatever its plan (a connect that never completes, a write that never drains). */
const CONNECTION_LIMIT_MS = 10_000;
const RSS_LIMIT_BYTES = 600 * 1024 * 1024;
/** Growth allowed from the first to the last RSS sample (both after a GC when `global.gc` exists). */
const RSS_GROWTH_LIMIT_BYTES = 256 * 1024 * 1024;
const REPLAY = `replay: ROOST_FUZZ_SEED=${seed} ROOST_FUZZ_MS=${durationMs} npx vitest run test/integration/fuzz.test.ts`;

function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name}: expected a positive integer, got "${text}"`);
  return value;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Tally {
  connections: number;
  units: number;
  bytesOut: number;
  bytesIn: number;
  ws: number;
  closedByBroker: number;
  connectFailures: string[];
  stuck: string[];
  /** Broker output a STOMP decoder could not read. */
  badOutput: string[];
}

/** Runs one fuzz connection to its end; never rejects. */
async function throwOne(t: TestBroker, index: number, plan: FuzzPlan, tally: Tally): Promise<void> {
  const label = `#${index} ${plan.description.slice(0, 300)}`;
  const decoder = plan.protocol === 'stomp' ? new StompDecoder({ maxFrameBytes: 64 * 1024 * 1024, maxBodyBytes: 64 * 1024 * 1024, maxHeaders: 65_535, maxHeaderLineBytes: 1024 * 1024 }) : undefined;
  let decodeFailed = false;
  const received = (chunk: Buffer): void => {
    tally.bytesIn += chunk.length;
    if (decoder === undefined || decodeFailed) return;
    try {
      decoder.push(chunk);
    } catch (err) {
      decodeFailed = true;
      tally.badOutput.push(`${label}: ${(err as Error).message}`);
    }
  };
  const peer = plan.transport === 'tcp' ? await openTcp(t.mqttPort, t.stompPort, plan, received) : await openWs(t.httpPort, plan, received);
  if (typeof peer === 'string') {
    tally.connectFailures.push(`${label}: ${peer}`);
    return;
  }
  tally.connections++;
  if (plan.transport === 'ws') tally.ws++;
  tally.units += plan.units;
  const limit = setTimeout(() => {
    tally.stuck.push(label);
    peer.destroy();
  }, CONNECTION_LIMIT_MS);
  try {
    for (let i = 0; i < plan.writes.length; i++) {
      const pause = plan.pausesMs[i] ?? 0;
      if (pause > 0) await sleep(pause);
      if (peer.isClosed()) break;
      const bytes = plan.writes[i] ?? Buffer.alloc(0);
      peer.write(bytes);
      tally.bytesOut += bytes.length;
    }
    const byBroker = await Promise.race([peer.closed.then(() => true), sleep(plan.lingerMs).then(() => false)]);
    if (byBroker) tally.closedByBroker++;
  } finally {
    clearTimeout(limit);
    peer.destroy();
    await peer.closed;
  }
}

interface FuzzPeer {
  write(bytes: Buffer): void;
  isClosed(): boolean;
  destroy(): void;
  readonly closed: Promise<void>;
}

function openTcp(mqttPort: number, stompPort: number, plan: FuzzPlan, onData: (chunk: Buffer) => void): Promise<FuzzPeer | string> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port: plan.protocol === 'mqtt' ? mqttPort : stompPort });
    let isClosed = false;
    const closed = new Promise<void>((done) =>
      socket.once('close', () => {
        isClosed = true;
        done();
      }),
    );
    socket.on('error', () => undefined);
    socket.once('error', (err) => resolve(err.message));
    socket.on('data', onData);
    socket.once('connect', () =>
      resolve({
        write: (bytes) => socket.write(bytes),
        isClosed: () => isClosed,
        destroy: () => socket.destroy(),
        closed,
      }),
    );
  });
}

function openWs(httpPort: number, plan: FuzzPlan, onData: (chunk: Buffer) => void): Promise<FuzzPeer | string> {
  return new Promise((resolve) => {
    const path = plan.protocol === 'mqtt' ? '/mqtt' : '/stomp';
    const ws = new WebSocket(`ws://127.0.0.1:${httpPort}${path}`, plan.protocol === 'mqtt' ? ['mqtt'] : ['v12.stomp', 'v11.stomp', 'v10.stomp']);
    const closed = new Promise<void>((done) => ws.once('close', () => done()));
    ws.on('error', () => undefined);
    ws.once('error', (err) => resolve(err.message));
    ws.once('unexpected-response', (_req, res) => {
      resolve(`HTTP ${res.statusCode ?? 0}`);
      ws.terminate();
    });
    ws.on('message', (data: WebSocket.RawData) => onData(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer)));
    ws.once('open', () =>
      resolve({
        write: (bytes) => ws.send(bytes, { binary: !plan.wsText }),
        isClosed: () => ws.readyState !== WebSocket.OPEN,
        destroy: () => ws.terminate(),
        closed,
      }),
    );
  });
}

/** Numbered messages from one sender to one receiver; what a lost or stray message looks like. */
class Watch {
  sent = 0;
  readonly received = new Set<number>();
  duplicates = 0;
  outOfOrder = 0;
  stray = 0;
  maxLatencyMs = 0;
  errors: string[] = [];
  #highest = -1;

  arrived(text: string): void {
    const n = Number(text);
    // One message per pair is in flight at a time: the highest number that can arrive is `sent`.
    if (!/^\d+$/.test(text) || n > this.sent) {
      this.stray++;
      return;
    }
    if (this.received.has(n)) {
      this.duplicates++;
      return;
    }
    if (n < this.#highest) this.outOfOrder++;
    this.#highest = Math.max(this.#highest, n);
    this.received.add(n);
  }

  missing(): number[] {
    const out: number[] = [];
    for (let n = 0; n < this.sent; n++) if (!this.received.has(n)) out.push(n);
    return out;
  }
}

describe(`fuzz (seed=${seed}, ${durationMs} ms, ${parallel} at a time)`, () => {
  let t: TestBroker;
  const nonce = randomBytes(6).toString('hex');
  // Fuzz names all start with `fz`: nothing generated can publish here, subscribe to this queue, or take these client ids.
  const watchTopic = `roost-watch-${nonce}/seq`;
  const watchQueue = `/queue/roost-watch-${nonce}`;
  let mqttSub: MqttClient | undefined;
  let mqttPub: MqttClient | undefined;
  let stompProducer: RawStomp | undefined;
  let stompConsumer: RawStomp | undefined;

  beforeAll(async () => {
    t = await startBroker({ mqtt: { connectTimeoutMs: 2_000 }, stomp: { connectTimeoutMs: 2_000 } });
  });
  afterAll(async () => {
    await end(mqttSub, mqttPub);
    await Promise.all([stompProducer?.close(), stompConsumer?.close()]);
    await t.close();
  });

  it(
    'keeps serving well-behaved clients, loses nothing, leaks no connection and stays bounded',
    async () => {
      const problems: string[] = [];
      const crashes: string[] = [];
      const onCrash = (err: unknown): void => {
        crashes.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
      };
      process.on('uncaughtException', onCrash);
      process.on('unhandledRejection', onCrash);
      const gc = (globalThis as { gc?: () => void }).gc;
      const rss: number[] = [];
      const sample = (): void => {
        rss.push(process.memoryUsage().rss);
      };
      let sampler: NodeJS.Timeout | undefined;
      let stopping = false;
      const tally: Tally = { connections: 0, units: 0, bytesOut: 0, bytesIn: 0, ws: 0, closedByBroker: 0, connectFailures: [], stuck: [], badOutput: [] };
      const recent: string[] = [];

      try {
        // ---- the well-behaved clients
        const mqttWatch = new Watch();
        mqttSub = await connect(t.mqttPort, { protocolVersion: 5, clientId: `roost-watch-${nonce}-sub`, clean: true });
        mqttPub = await connect(t.mqttPort, { protocolVersion: 4, clientId: `roost-watch-${nonce}-pub`, clean: true });
        for (const [name, client] of [['subscriber', mqttSub], ['publisher', mqttPub]] as const) {
          client.on('close', () => {
            if (!stopping) mqttWatch.errors.push(`MQTT ${name} disconnected`);
          });
        }
        mqttSub.on('message', (topic, payload) => {
          if (topic === watchTopic) mqttWatch.arrived(payload.toString());
          else mqttWatch.stray++;
        });
        await mqttSub.subscribeAsync(watchTopic, { qos: 1 });

        const stompWatch = new Watch();
        stompConsumer = await RawStomp.connected(t.stompPort);
        stompProducer = await RawStomp.connected(t.stompPort);
        stompConsumer.send('SUBSCRIBE', { id: 'watch', destination: watchQueue, ack: 'client-individual', receipt: 'sub' });
        await stompConsumer.next('RECEIPT');

        const baseline = await connectionCounts(t);
        const routesBefore = t.broker.router.size;
        gc?.();
        sample();
        sampler = setInterval(sample, 200);

        const mqttPublishing = (async () => {
          const pub = mqttPub;
          if (pub === undefined) return;
          while (!stopping) {
            const started = Date.now();
            try {
              await pub.publishAsync(watchTopic, String(mqttWatch.sent), { qos: 1 });
              mqttWatch.sent++;
            } catch (err) {
              mqttWatch.errors.push(`MQTT publish ${mqttWatch.sent}: ${(err as Error).message}`);
              return;
            }
            mqttWatch.maxLatencyMs = Math.max(mqttWatch.maxLatencyMs, Date.now() - started);
            await sleep(WATCH_INTERVAL_MS);
          }
        })();
        const stompProducing = (async () => {
          const producer = stompProducer;
          if (producer === undefined) return;
          while (!stopping) {
            const started = Date.now();
            const n = stompWatch.sent;
            try {
              producer.send('SEND', { destination: watchQueue, persistent: 'true', receipt: `r${n}` }, String(n));
              const receipt = await producer.next('RECEIPT', 15_000);
              if (header(receipt, 'receipt-id') !== `r${n}`) stompWatch.errors.push(`STOMP receipt ${header(receipt, 'receipt-id')} for r${n}`);
              stompWatch.sent++;
            } catch (err) {
              stompWatch.errors.push(`STOMP send ${n}: ${(err as Error).message}`);
              return;
            }
            stompWatch.maxLatencyMs = Math.max(stompWatch.maxLatencyMs, Date.now() - started);
            await sleep(WATCH_INTERVAL_MS);
          }
        })();
        let consuming = true;
        const stompConsuming = (async () => {
          const consumer = stompConsumer;
          if (consumer === undefined) return;
          while (consuming) {
            let message: StompFrame;
            try {
              message = await consumer.next('MESSAGE', 200);
            } catch {
              if (consumer.isClosed) {
                stompWatch.errors.push('STOMP consumer disconnected');
                return;
              }
              continue;
            }
            stompWatch.arrived(message.body.toString());
            consumer.send('ACK', { id: header(message, 'ack') ?? '' });
          }
        })();

        // ---- the fuzzers
        let nextIndex = 0;
        const deadline = Date.now() + durationMs;
        const fuzzer = async (): Promise<void> => {
          while (Date.now() < deadline) {
            const index = nextIndex++;
            const plan = fuzzPlan(new Rng(connectionSeed(seed, index)));
            recent.push(`#${index} ${plan.transport} ${plan.description.slice(0, 200)}`);
            if (recent.length > 4 * parallel) recent.shift();
            await throwOne(t, index, plan, tally);
          }
        };
        await Promise.all(Array.from({ length: parallel }, fuzzer));

        // ---- drain and check
        stopping = true;
        await Promise.all([mqttPublishing, stompProducing]);
        const drainDeadline = Date.now() + 15_000;
        while ((mqttWatch.missing().length > 0 || stompWatch.missing().length > 0) && Date.now() < drainDeadline) await sleep(50);
        consuming = false;
        await stompConsuming;

        let counts = await connectionCounts(t);
        const settleDeadline = Date.now() + 10_000;
        while ((counts.mqtt !== baseline.mqtt || counts.stomp !== baseline.stomp) && Date.now() < settleDeadline) {
          await sleep(100);
          counts = await connectionCounts(t);
        }
        // A newcomer is served as on the first day.
        const fresh = await RawStomp.connected(t.stompPort);
        await fresh.close();
        const freshMqtt = await connect(t.mqttPort, { clientId: `roost-watch-${nonce}-fresh` });
        await end(freshMqtt);

        clearInterval(sampler);
        gc?.();
        sample();
        const routesAfter = t.broker.router.size;

        for (const [name, watch] of [['MQTT', mqttWatch], ['STOMP', stompWatch]] as const) {
          const missing = watch.missing();
          if (missing.length > 0) problems.push(`${name}: ${missing.length} of ${watch.sent} messages lost (first: ${missing.slice(0, 10).join(', ')})`);
          if (watch.stray > 0) problems.push(`${name}: ${watch.stray} stray messages reached the well-behaved receiver`);
          if (watch.outOfOrder > 0) problems.push(`${name}: ${watch.outOfOrder} messages out of order`);
          if (watch.sent < 10) problems.push(`${name}: only ${watch.sent} messages sent in ${durationMs} ms`);
          problems.push(...watch.errors.map((e) => `${name}: ${e}`));
        }
        if (counts.mqtt !== baseline.mqtt || counts.stomp !== baseline.stomp) {
          problems.push(`connections left open after the run: ${JSON.stringify(counts)}, before it ${JSON.stringify(baseline)}`);
        }
        problems.push(...tally.connectFailures.slice(0, 5).map((c) => `could not connect: ${c}`));
        problems.push(...tally.stuck.slice(0, 5).map((c) => `connection still open after ${CONNECTION_LIMIT_MS} ms: ${c}`));
        problems.push(...tally.badOutput.slice(0, 5).map((c) => `broker wrote undecodable STOMP: ${c}`));
        const first = rss[0] ?? 0;
        const last = rss[rss.length - 1] ?? 0;
        const peak = Math.max(...rss);
        if (peak > RSS_LIMIT_BYTES) problems.push(`RSS peaked at ${mb(peak)}`);
        if (last - first > RSS_GROWTH_LIMIT_BYTES) problems.push(`RSS grew from ${mb(first)} to ${mb(last)}`);

        console.log(
          `fuzz: seed=${seed} connections=${tally.connections} packets=${tally.units} bytes=${tally.bytesOut} crashes=${crashes.length} ` +
            `ms=${durationMs} ws=${tally.ws} answered=${tally.bytesIn} closedByBroker=${tally.closedByBroker} ` +
            `mqtt=${mqttWatch.received.size}/${mqttWatch.sent} (max ${mqttWatch.maxLatencyMs} ms) ` +
            `stomp=${stompWatch.received.size}/${stompWatch.sent} (max ${stompWatch.maxLatencyMs} ms) ` +
            `routes=${routesBefore}→${routesAfter} rss=${mb(first)}→${mb(last)} peak ${mb(peak)}${gc ? '' : ' (no gc)'}`,
        );
        expect(tally.connections, 'too few fuzz connections to mean anything').toBeGreaterThanOrEqual(Math.min(100, durationMs / 20));
      } finally {
        stopping = true;
        clearInterval(sampler);
        process.off('uncaughtException', onCrash);
        process.off('unhandledRejection', onCrash);
      }
      problems.unshift(...crashes.map((c) => `uncaught: ${c}`));
      if (problems.length > 0) console.log(`fuzz failed; last connections:\n  ${recent.join('\n  ')}\n${REPLAY}`);
      expect(problems, REPLAY).toEqual([]);
    },
    durationMs + 120_000,
  );
});

// Found by the run above (see docs/fuzzing.md): aedes registered a client
// whose socket closed while its CONNECT was still being processed (the will is
// stored asynchronously), and nothing ever unregistered it.
describe('MQTT connections that close in the middle of CONNECT', () => {
  it('are not left registered or counted', async () => {
    const t = await startBroker();
    try {
      for (let i = 0; i < 100; i++) {
        const socket = netConnect({ host: '127.0.0.1', port: t.mqttPort });
        socket.on('error', () => undefined);
        await new Promise((resolve) => socket.once('connect', resolve));
        const will = { topic: 'fz/will', payload: Buffer.alloc(50_000), qos: 1 as const, retain: false };
        socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `fz-mid-${i % 10}`, clean: i % 2 === 0, keepalive: 0, will }));
        await sleep(i % 3);
        socket.destroy();
      }
      const deadline = Date.now() + 5_000;
      while ((await connectionCounts(t)).mqtt !== 0 && Date.now() < deadline) await sleep(50);
      expect(await connectionCounts(t)).toEqual({ mqtt: 0, stomp: 0 });
    } finally {
      await t.close();
    }
  });
});

async function connectionCounts(t: TestBroker): Promise<{ mqtt: number; stomp: number }> {
  const res = await httpGet(t.httpPort, '/healthz');
  return (JSON.parse(res.body) as { connections: { mqtt: number; stomp: number } }).connections;
}

function mb(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MB`;
}
