/**
 * Throughput scenarios: publishers send numbered 64-byte messages as fast
 * as the broker takes them (QoS 0: while the socket drains and they are not
 * too far ahead of the subscribers; QoS 1: a fixed window in flight per
 * publisher), subscribers count what arrives.
 * Loss and duplicates come from the sequence numbers in the payloads,
 * counted after publishing stops and deliveries settle.
 */

import { Publisher, RawMqttClient, readPublisherIndex, readSeq, type ConnectOptions } from '../mqtt-raw.js';
import { CpuMeter, readPeakRssBytes, readRssBytes } from '../proc.js';
import type { BenchOptions, BenchResult, Scenario } from '../scenario.js';
import { lossPct, SeqTracker } from '../stats.js';
import { sleep, type Target } from '../targets/launch.js';
import { cpuNotes, forEachTarget, numberFlag, type Measurement } from './each-target.js';

export const PAYLOAD_BYTES = 64;
/** Packets per socket write; large enough to amortise the syscall, small enough to keep latency sane. */
const BATCH_SIZE = 64;
/** Batches a publisher writes before yielding to the event loop, so receivers are served too. */
const BATCHES_PER_TURN = 8;
const DEFAULT_WARMUP_MS = 1_000;
/**
 * At QoS 0, how many deliveries in all the publishers may be ahead of the
 * subscribers (split evenly per publisher and subscriber). Without a bound
 * a firehose fills tens of MB of loopback socket buffers during warm-up and
 * the measured phase only drains them. A broker that drops messages does
 * not stall the publishers: progress is the highest sequence number seen.
 */
const DEFAULT_MAX_AHEAD = 50_000;
/** Settling ends when every message has arrived or nothing has arrived for this long. */
const DEFAULT_SETTLE_MS = 1_000;
const SETTLE_CAP_MS = 15_000;
/** How often parked QoS 0 publishers are checked for a stall (no delivery at all since the last check). */
const STALL_TICK_MS = 200;

/** What a throughput measurement loads the broker with; exported for scenarios that reuse the measurement. */
export interface ThroughputPlan {
  readonly publishers: number;
  readonly subscribers: number;
  readonly qos: 0 | 1;
  /** Messages in flight per publisher at QoS 1. */
  readonly window: number;
  readonly topic: (publisher: number) => string;
  readonly filter: string;
  /** Where and how every client connects; default: TCP to the target's MQTT port. */
  readonly endpoint?: (target: Target) => Pick<ConnectOptions, 'host' | 'port' | 'transport' | 'path'>;
}

/**
 * Measures one target with `plan`: connect subscribers, then publishers;
 * warm up; measure `durationMs`; stop publishing; settle; count.
 */
export async function measureThroughput(target: Target, options: BenchOptions, plan: ThroughputPlan): Promise<Measurement> {
  const warmupMs = numberFlag(options, 'warmup-ms', DEFAULT_WARMUP_MS);
  const settleMs = numberFlag(options, 'settle-ms', DEFAULT_SETTLE_MS);
  const maxAhead = Math.max(
    2 * BATCH_SIZE,
    Math.floor(numberFlag(options, 'max-ahead', DEFAULT_MAX_AHEAD) / (plan.publishers * plan.subscribers)),
  );
  const runId = `${process.pid}-${Date.now().toString(36)}`;
  const endpoint = plan.endpoint?.(target) ?? { host: target.host, port: target.port };
  const clients: RawMqttClient[] = [];
  let running = false;
  let delivered = 0;
  let deliveredBeforeMeasure = 0;
  // trackers[subscriber][publisher]: which sequence numbers that subscriber got from that publisher.
  const trackers: SeqTracker[][] = [];
  // nextSeen[subscriber][publisher]: one past the highest sequence number seen; drops do not stall it.
  const nextSeen: Float64Array[] = [];
  const publishers: Publisher[] = [];
  const parked = new Set<number>();
  const credit = (p: number): number => {
    let slowest = Infinity;
    for (const row of nextSeen) slowest = Math.min(slowest, row[p] as number);
    return maxAhead - ((publishers[p]?.sent ?? 0) - slowest);
  };
  const pump = (p: number, force = false): void => {
    const publisher = publishers[p];
    const client = clients[plan.subscribers + p];
    if (publisher === undefined || client === undefined) return;
    for (let turn = 0; turn < BATCHES_PER_TURN; turn++) {
      if (!running || client.closed) return;
      if (credit(p) < BATCH_SIZE && !(force && turn === 0)) {
        parked.add(p);
        return;
      }
      if (!publisher.send(BATCH_SIZE)) {
        client.socket.once('drain', () => pump(p));
        return;
      }
    }
    setImmediate(() => pump(p));
  };
  const unpark = (): void => {
    if (parked.size === 0) return;
    for (const p of [...parked]) {
      if (credit(p) >= BATCH_SIZE) {
        parked.delete(p);
        pump(p);
      }
    }
  };
  // If the broker dropped the newest messages, the highest sequence seen stops moving and
  // parked publishers would wait forever: after a quiet tick, each sends one batch regardless.
  let deliveredAtTick = 0;
  const watchdog = setInterval(() => {
    if (delivered === deliveredAtTick) {
      // A snapshot: pump() may park p again, and a Set visits re-added entries.
      for (const p of [...parked]) {
        parked.delete(p);
        pump(p, true);
      }
    }
    deliveredAtTick = delivered;
  }, STALL_TICK_MS);
  try {
    for (let s = 0; s < plan.subscribers; s++) {
      const client = await RawMqttClient.connect({ ...endpoint, clientId: `bench-sub-${s}-${runId}` });
      clients.push(client);
      const mine = Array.from({ length: plan.publishers }, () => new SeqTracker());
      trackers.push(mine);
      const seen = new Float64Array(plan.publishers);
      nextSeen.push(seen);
      client.autoAck = plan.qos === 1;
      client.onPublish = (data, payloadStart) => {
        delivered++;
        const p = readPublisherIndex(data, payloadStart);
        const seq = readSeq(data, payloadStart);
        mine[p]?.mark(seq);
        if (seq >= (seen[p] as number)) seen[p] = seq + 1;
      };
      if (plan.qos === 0) client.onChunkEnd = unpark;
      await client.subscribe(plan.filter, plan.qos);
    }
    for (let p = 0; p < plan.publishers; p++) {
      const client = await RawMqttClient.connect({ ...endpoint, clientId: `bench-pub-${p}-${runId}` });
      clients.push(client);
      const publisher = new Publisher(client, {
        topic: plan.topic(p),
        qos: plan.qos,
        payloadBytes: PAYLOAD_BYTES,
        publisherIndex: p,
        batchSize: BATCH_SIZE,
      });
      publishers.push(publisher);
      if (plan.qos === 1) {
        // Refill once per event-loop turn, after every PUBACK read in it has been counted:
        // one write for the whole turn instead of one per received chunk.
        let scheduled = false;
        const refill = (): void => {
          scheduled = false;
          if (running) fillWindow(publisher, plan.window);
        };
        client.onChunkEnd = () => {
          if (!scheduled) {
            scheduled = true;
            setImmediate(refill);
          }
        };
      }
    }

    running = true;
    for (const [index, publisher] of publishers.entries()) {
      if (plan.qos === 1) fillWindow(publisher, plan.window);
      else pump(index);
    }

    await sleep(warmupMs);
    const pids = new Map<string, number>(target.pid === undefined ? [] : [['broker', target.pid]]);
    const cpu = new CpuMeter(pids);
    const sentBefore = sum(publishers, (p) => p.sent);
    const ackedBefore = sum(publishers, (p) => p.acked);
    deliveredBeforeMeasure = delivered;
    const startMs = performance.now();
    cpu.start();
    await sleep(options.durationMs);
    const shares = cpu.stop();
    const elapsedSec = (performance.now() - startMs) / 1000;
    const deliveredInPhase = delivered - deliveredBeforeMeasure;
    const sentInPhase = sum(publishers, (p) => p.sent) - sentBefore;
    const ackedInPhase = sum(publishers, (p) => p.acked) - ackedBefore;
    const ahead = sum(nextSeen, (seen) => sum(publishers, (publisher, p) => publisher.sent - (seen[p] as number)));
    const brokerRss = target.pid === undefined ? undefined : readRssBytes(target.pid);
    const brokerPeakRss = target.pid === undefined ? undefined : readPeakRssBytes(target.pid);

    running = false;
    const sentTotal = sum(publishers, (p) => p.sent);
    const expected = sentTotal * plan.subscribers;
    const uniqueNow = (): number => sum(trackers, (row) => sum(row, (t) => t.unique));
    const settledAfterMs = await settle(uniqueNow, expected, settleMs);
    const unique = uniqueNow();
    const duplicates = sum(trackers, (row) => sum(row, (t) => t.duplicates));
    const disconnected = clients.filter((c) => c.closed).length;

    const figures: Record<string, number> = {
      deliveredPerSec: Math.round(deliveredInPhase / elapsedSec),
      publishedPerSec: Math.round(sentInPhase / elapsedSec),
    };
    if (plan.qos === 1) figures['pubackedPerSec'] = Math.round(ackedInPhase / elapsedSec);
    figures['lossPct'] = lossPct(expected, unique);
    figures['duplicates'] = duplicates;
    figures['aheadAtPhaseEndMsgs'] = ahead;
    if (brokerRss !== undefined) figures['brokerRssBytes'] = brokerRss;
    if (brokerPeakRss !== undefined) figures['brokerPeakRssBytes'] = brokerPeakRss;

    const notes: Record<string, string | number> = {
      ...cpuNotes(shares),
      measuredMs: Math.round(elapsedSec * 1000),
      sentTotal,
      ...(plan.qos === 0 ? { maxAheadPerPublisherAndSubscriber: maxAhead } : { windowPerPublisher: plan.window }),
      settleMs: Math.round(settledAfterMs),
    };
    if (disconnected > 0) notes['disconnectedClients'] = disconnected;
    return { figures, notes };
  } finally {
    running = false;
    clearInterval(watchdog);
    for (const client of clients) client.destroy();
  }
}

/** Keeps `window` PUBLISH packets in flight, written in batches. */
function fillWindow(publisher: Publisher, window: number): void {
  let room = window - publisher.inflight;
  while (room > 0) {
    const n = Math.min(room, BATCH_SIZE);
    publisher.send(n);
    room -= n;
  }
}

/** Waits until `count()` reaches `expected` or stops growing for `quietMs`; returns the time spent, ms. */
async function settle(count: () => number, expected: number, quietMs: number): Promise<number> {
  const start = performance.now();
  let last = count();
  let lastChange = start;
  while (last < expected) {
    await sleep(20);
    const now = performance.now();
    const current = count();
    if (current !== last) {
      last = current;
      lastChange = now;
    } else if (now - lastChange >= quietMs) {
      break;
    }
    if (now - start >= SETTLE_CAP_MS) break;
  }
  return performance.now() - start;
}

function sum<T>(items: ArrayLike<T> & Iterable<T>, pick: (item: T, index: number) => number): number {
  let total = 0;
  for (let i = 0; i < items.length; i++) total += pick(items[i] as T, i);
  return total;
}

function throughputScenario(name: string, description: string, plan: ThroughputPlan): Scenario {
  return {
    name,
    description,
    run: (options: BenchOptions): Promise<BenchResult[]> =>
      forEachTarget(name, options, (target) => measureThroughput(target, options, plan)),
  };
}

/** The fan-in loads, also measured by `acl.ts` with an ACL on. */
export const FANIN_Q0_PLAN: ThroughputPlan = { publishers: 10, subscribers: 1, qos: 0, window: 0, topic: (p) => `bench/p${p}`, filter: 'bench/#' };
export const FANIN_Q1_PLAN: ThroughputPlan = { publishers: 10, subscribers: 1, qos: 1, window: 100, topic: (p) => `bench/p${p}`, filter: 'bench/#' };

export const mqttFaninQos0 = throughputScenario(
  'mqtt-fanin-q0',
  '10 publishers → 1 subscriber on bench/#, QoS 0, 64-byte payloads: delivered msg/s, loss %',
  FANIN_Q0_PLAN,
);

export const mqttFaninQos1 = throughputScenario(
  'mqtt-fanin-q1',
  '10 publishers (100 in flight each) → 1 subscriber acking every message on bench/#, QoS 1: delivered and PUBACKed msg/s, loss %',
  FANIN_Q1_PLAN,
);

export const mqttFanoutQos0 = throughputScenario(
  'mqtt-fanout-q0',
  '1 publisher → 50 subscribers on one topic, QoS 0, 64-byte payloads: delivered msg/s (all subscribers), loss %',
  { publishers: 1, subscribers: 50, qos: 0, window: 0, topic: () => 'bench/fanout', filter: 'bench/fanout' },
);
