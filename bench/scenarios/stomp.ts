/**
 * STOMP scenarios, Roost only (aedes and Mosquitto have no STOMP and are
 * reported as skipped): a receipted producer → queue → client-ack consumer,
 * and MQTT QoS 1 telemetry → a queue bound to its topics → a STOMP consumer.
 * Both use the same 64-byte numbered body as the MQTT scenarios, so loss and
 * duplicates come from the sequence numbers, counted after load stops and
 * deliveries settle.
 */

import { Publisher, RawMqttClient, readPublisherIndex, readSeq } from '../mqtt-raw.js';
import { CpuMeter, readPeakRssBytes, readRssBytes } from '../proc.js';
import type { BenchOptions, BenchResult, Scenario } from '../scenario.js';
import { lossPct, SeqTracker } from '../stats.js';
import { Acker, RawStompClient, Sender, type StompFrameView } from '../stomp-raw.js';
import { sleep, type StartOptions, type Target } from '../targets/launch.js';
import { chooseTargets, cpuNotes, forEachTarget, numberFlag, type Measurement } from './each-target.js';

const BODY_BYTES = 64;
/** Frames per socket write. */
const BATCH_SIZE = 64;
const DEFAULT_WINDOW = 100;
const DEFAULT_PREFETCH = 1_000;
const DEFAULT_PUBLISHERS = 4;
const DEFAULT_WARMUP_MS = 1_000;
const DEFAULT_SETTLE_MS = 1_000;
/** A queue backlog drains after load stops; settling ends at this bound whatever still arrives. */
const SETTLE_CAP_MS = 30_000;
const QUEUE_DESTINATION = '/queue/bench';
const TELEMETRY_QUEUE = 'telemetry';
const TELEMETRY_FILTER = 'sensors/#';

/** The STOMP port to load: the one the harness started Roost with, or `--stomp-port` for an external broker. */
function stompPortOf(target: Target, options: BenchOptions): number {
  if (target.stompPort !== undefined) return target.stompPort;
  const flag = numberFlag(options, 'stomp-port', 0, true);
  if (flag > 0) return flag;
  throw new Error('no STOMP port: give --stomp-port P with --port');
}

/**
 * Runs `measure` on Roost (or the external broker) through `forEachTarget`,
 * and reports every other chosen target as skipped: they speak no STOMP.
 */
async function onStompTargets(
  scenario: string,
  options: BenchOptions,
  measure: (target: Target) => Promise<Measurement>,
  startOptions: StartOptions,
): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const name of chooseTargets(options)) {
    if (name === 'roost' || name === 'external') {
      const only = { ...options, extra: { ...options.extra, targets: 'roost' } };
      results.push(...(await forEachTarget(scenario, only, measure, startOptions)));
    } else {
      results.push({ scenario, target: name, figures: {}, notes: { skipped: `${name} has no STOMP listener` } });
    }
  }
  return results;
}

/** A STOMP consumer that ACKs every MESSAGE and tracks the sequence numbers per sender. */
class CountingConsumer {
  delivered = 0;
  readonly trackers: SeqTracker[];
  readonly acker: Acker;

  constructor(
    readonly client: RawStompClient,
    senders: number,
  ) {
    this.trackers = Array.from({ length: senders }, () => new SeqTracker());
    this.acker = new Acker(client);
    client.onMessage = (frame: StompFrameView) => {
      this.delivered++;
      const sender = readPublisherIndex(frame.data, frame.bodyStart);
      this.trackers[sender]?.mark(readSeq(frame.data, frame.bodyStart));
      this.acker.add(frame);
    };
  }

  get unique(): number {
    return this.trackers.reduce((total, tracker) => total + tracker.unique, 0);
  }

  get duplicates(): number {
    return this.trackers.reduce((total, tracker) => total + tracker.duplicates, 0);
  }
}

/** Calls `refill` once per event-loop turn after a chunk was read, so the window refills in one write per turn. */
function refillPerTurn(setHook: (hook: () => void) => void, refill: () => void): void {
  let scheduled = false;
  const run = (): void => {
    scheduled = false;
    refill();
  };
  setHook(() => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(run);
    }
  });
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

interface Phase {
  readonly elapsedSec: number;
  readonly shares: Record<string, number>;
  readonly brokerRssBytes: number | undefined;
  readonly brokerPeakRssBytes: number | undefined;
}

/** Warm up, then measure `durationMs` with CPU shares; `snapshot` is taken at both ends of the measured phase. */
async function measurePhase(target: Target, options: BenchOptions, snapshot: () => void): Promise<Phase> {
  await sleep(numberFlag(options, 'warmup-ms', DEFAULT_WARMUP_MS));
  const cpu = new CpuMeter(new Map(target.pid === undefined ? [] : [['broker', target.pid]]));
  snapshot();
  const startMs = performance.now();
  cpu.start();
  await sleep(options.durationMs);
  const shares = cpu.stop();
  const elapsedSec = (performance.now() - startMs) / 1000;
  snapshot();
  return {
    elapsedSec,
    shares,
    brokerRssBytes: target.pid === undefined ? undefined : readRssBytes(target.pid),
    brokerPeakRssBytes: target.pid === undefined ? undefined : readPeakRssBytes(target.pid),
  };
}

function rssFigures(phase: Phase): Record<string, number> {
  const figures: Record<string, number> = {};
  if (phase.brokerRssBytes !== undefined) figures['brokerRssBytes'] = phase.brokerRssBytes;
  if (phase.brokerPeakRssBytes !== undefined) figures['brokerPeakRssBytes'] = phase.brokerPeakRssBytes;
  return figures;
}

function clientErrors(clients: ReadonlyArray<{ readonly error: Error | undefined }>): string | undefined {
  const messages = [...new Set(clients.map((c) => c.error?.message).filter((m): m is string => m !== undefined))];
  return messages.length === 0 ? undefined : messages.join('; ');
}

/**
 * `stomp-queue`: one producer SENDs persistent, receipted messages to a
 * queue with a window in flight; one client-individual consumer ACKs each.
 */
async function measureStompQueue(target: Target, options: BenchOptions): Promise<Measurement> {
  const port = stompPortOf(target, options);
  const window = Math.floor(numberFlag(options, 'window', DEFAULT_WINDOW));
  const prefetch = Math.floor(numberFlag(options, 'prefetch', DEFAULT_PREFETCH));
  const settleMs = numberFlag(options, 'settle-ms', DEFAULT_SETTLE_MS);
  const clients: RawStompClient[] = [];
  let running = false;
  try {
    const consumerClient = await RawStompClient.connect({ host: target.host, port });
    clients.push(consumerClient);
    const consumer = new CountingConsumer(consumerClient, 1);
    await consumerClient.subscribe({ id: '0', destination: QUEUE_DESTINATION, ack: 'client-individual', prefetch });

    const producerClient = await RawStompClient.connect({ host: target.host, port });
    clients.push(producerClient);
    const sender = new Sender(producerClient, {
      destination: QUEUE_DESTINATION,
      bodyBytes: BODY_BYTES,
      senderIndex: 0,
      batchSize: BATCH_SIZE,
      headers: [['persistent', 'true']],
    });
    const fill = (): void => {
      if (running) fillWindow(sender, window);
    };
    refillPerTurn((hook) => (producerClient.onChunkEnd = hook), fill);

    running = true;
    fill();
    let receipted = 0;
    let acked = 0;
    let delivered = 0;
    let sent = 0;
    const phase = await measurePhase(target, options, () => {
      receipted = sender.receipted - receipted;
      acked = consumer.acker.acked - acked;
      delivered = consumer.delivered - delivered;
      sent = sender.sent - sent;
    });
    const ahead = sender.receipted - consumer.delivered;
    running = false;
    const settledAfterMs = await settle(() => consumer.unique, sender.sent, settleMs);

    const figures: Record<string, number> = {
      receiptedPerSec: Math.round(receipted / phase.elapsedSec),
      ackedPerSec: Math.round(acked / phase.elapsedSec),
      deliveredPerSec: Math.round(delivered / phase.elapsedSec),
      sentPerSec: Math.round(sent / phase.elapsedSec),
      lossPct: lossPct(sender.sent, consumer.unique),
      duplicates: consumer.duplicates,
      aheadAtPhaseEndMsgs: ahead,
      ...rssFigures(phase),
    };
    const notes: Record<string, string | number> = {
      ...cpuNotes(phase.shares),
      measuredMs: Math.round(phase.elapsedSec * 1000),
      sentTotal: sender.sent,
      window,
      prefetch,
      settleMs: Math.round(settledAfterMs),
    };
    if (sender.receiptsOutOfOrder > 0) notes['receiptsOutOfOrder'] = sender.receiptsOutOfOrder;
    const errors = clientErrors(clients.filter((c) => c.closed));
    if (errors !== undefined) notes['clientErrors'] = errors;
    return { figures, notes };
  } finally {
    running = false;
    for (const client of clients) client.destroy();
  }
}

/**
 * `cross-mqtt-stomp`: MQTT QoS 1 publishers on `sensors/<i>/temp` → the
 * queue `telemetry` bound to `sensors/#` → one client-individual STOMP consumer.
 */
async function measureCrossMqttStomp(target: Target, options: BenchOptions): Promise<Measurement> {
  const port = stompPortOf(target, options);
  const window = Math.floor(numberFlag(options, 'window', DEFAULT_WINDOW));
  const prefetch = Math.floor(numberFlag(options, 'prefetch', DEFAULT_PREFETCH));
  const publisherCount = Math.floor(numberFlag(options, 'publishers', DEFAULT_PUBLISHERS));
  const settleMs = numberFlag(options, 'settle-ms', DEFAULT_SETTLE_MS);
  const runId = `${process.pid}-${Date.now().toString(36)}`;
  const stompClients: RawStompClient[] = [];
  const mqttClients: RawMqttClient[] = [];
  let running = false;
  try {
    const consumerClient = await RawStompClient.connect({ host: target.host, port });
    stompClients.push(consumerClient);
    const consumer = new CountingConsumer(consumerClient, publisherCount);
    await consumerClient.subscribe({ id: '0', destination: `/queue/${TELEMETRY_QUEUE}`, ack: 'client-individual', prefetch });

    const publishers: Publisher[] = [];
    for (let p = 0; p < publisherCount; p++) {
      const client = await RawMqttClient.connect({ host: target.host, port: target.port, clientId: `bench-sensor-${p}-${runId}` });
      mqttClients.push(client);
      const publisher = new Publisher(client, {
        topic: `sensors/${p}/temp`,
        qos: 1,
        payloadBytes: BODY_BYTES,
        publisherIndex: p,
        batchSize: BATCH_SIZE,
      });
      publishers.push(publisher);
      refillPerTurn(
        (hook) => (client.onChunkEnd = hook),
        () => {
          if (running) fillWindow(publisher, window);
        },
      );
    }

    running = true;
    for (const publisher of publishers) fillWindow(publisher, window);
    const total = (pick: (p: Publisher) => number): number => publishers.reduce((sum, p) => sum + pick(p), 0);
    let pubacked = 0;
    let published = 0;
    let delivered = 0;
    let acked = 0;
    const phase = await measurePhase(target, options, () => {
      pubacked = total((p) => p.acked) - pubacked;
      published = total((p) => p.sent) - published;
      delivered = consumer.delivered - delivered;
      acked = consumer.acker.acked - acked;
    });
    const ahead = total((p) => p.acked) - consumer.delivered;
    running = false;
    const sentTotal = total((p) => p.sent);
    const settledAfterMs = await settle(() => consumer.unique, sentTotal, settleMs);

    const figures: Record<string, number> = {
      pubackedPerSec: Math.round(pubacked / phase.elapsedSec),
      deliveredPerSec: Math.round(delivered / phase.elapsedSec),
      publishedPerSec: Math.round(published / phase.elapsedSec),
      ackedPerSec: Math.round(acked / phase.elapsedSec),
      lossPct: lossPct(sentTotal, consumer.unique),
      duplicates: consumer.duplicates,
      aheadAtPhaseEndMsgs: ahead,
      ...rssFigures(phase),
    };
    const notes: Record<string, string | number> = {
      ...cpuNotes(phase.shares),
      measuredMs: Math.round(phase.elapsedSec * 1000),
      sentTotal,
      publishers: publisherCount,
      windowPerPublisher: window,
      prefetch,
      settleMs: Math.round(settledAfterMs),
    };
    const errors = clientErrors([...stompClients, ...mqttClients].filter((c) => c.closed));
    if (errors !== undefined) notes['clientErrors'] = errors;
    return { figures, notes };
  } finally {
    running = false;
    for (const client of stompClients) client.destroy();
    for (const client of mqttClients) client.destroy();
  }
}

/** Keeps `window` frames in flight, written in batches. */
function fillWindow(sender: { readonly inflight: number; send(count: number): boolean }, window: number): void {
  let room = window - sender.inflight;
  while (room > 0) {
    const n = Math.min(room, BATCH_SIZE);
    sender.send(n);
    room -= n;
  }
}

export const stompQueue: Scenario = {
  name: 'stomp-queue',
  description:
    '1 STOMP producer (persistent SENDs, a receipt each, 100 in flight) → /queue/bench → 1 consumer acking each (client-individual, prefetch 1000): receipted and acked msg/s, loss % (roost only)',
  run: (options) => onStompTargets('stomp-queue', options, (target) => measureStompQueue(target, options), { stompPort: true }),
};

export const crossMqttStomp: Scenario = {
  name: 'cross-mqtt-stomp',
  description:
    '4 MQTT QoS 1 publishers (100 in flight each) on sensors/<i>/temp → queue bound to sensors/# → 1 STOMP consumer acking each: PUBACKed and delivered msg/s, loss % (roost only)',
  run: (options) =>
    onStompTargets('cross-mqtt-stomp', options, (target) => measureCrossMqttStomp(target, options), {
      stompPort: true,
      env: { ROOST_QUEUES: JSON.stringify([{ name: TELEMETRY_QUEUE, bind: [TELEMETRY_FILTER] }]) },
    }),
};
