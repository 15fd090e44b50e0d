/**
 * End-to-end latency at a fixed, moderate rate: one QoS 1 publisher paced
 * at `--rate` msg/s (default 5,000), one QoS 1 subscriber acking every
 * message. Latency is receive time minus the send time written in the
 * payload; both clocks are this process's `performance.now()`, so there is
 * no clock skew to correct.
 */

import { Publisher, RawMqttClient, readSentAtMs, readSeq } from '../mqtt-raw.js';
import { CpuMeter, readRssBytes } from '../proc.js';
import type { BenchOptions, BenchResult, Scenario } from '../scenario.js';
import { LatencyRecorder, lossPct, SeqTracker } from '../stats.js';
import { sleep, type Target } from '../targets/launch.js';
import { cpuNotes, forEachTarget, numberFlag, type Measurement } from './each-target.js';
import { PAYLOAD_BYTES } from './mqtt-throughput.js';

const DEFAULT_RATE_PER_SEC = 5_000;
const DEFAULT_WINDOW = 100;
const DEFAULT_WARMUP_MS = 1_000;
const SETTLE_MS = 1_000;
const TICK_MS = 1;
const TOPIC = 'bench/latency';

async function measureLatency(target: Target, options: BenchOptions): Promise<Measurement> {
  const ratePerSec = numberFlag(options, 'rate', DEFAULT_RATE_PER_SEC);
  const window = numberFlag(options, 'window', DEFAULT_WINDOW);
  const warmupMs = numberFlag(options, 'warmup-ms', DEFAULT_WARMUP_MS);
  const runId = `${process.pid}-${Date.now().toString(36)}`;
  const recorder = new LatencyRecorder(Math.ceil((ratePerSec * options.durationMs) / 1000) + 10_000);
  const tracker = new SeqTracker();
  let recording = false;
  let delivered = 0;
  const clients: RawMqttClient[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const subscriber = await RawMqttClient.connect({ host: target.host, port: target.port, clientId: `bench-lat-sub-${runId}` });
    clients.push(subscriber);
    subscriber.autoAck = true;
    subscriber.onPublish = (data, payloadStart) => {
      delivered++;
      tracker.mark(readSeq(data, payloadStart));
      if (recording) recorder.record(performance.now() - readSentAtMs(data, payloadStart));
    };
    await subscriber.subscribe(TOPIC, 1);
    const client = await RawMqttClient.connect({ host: target.host, port: target.port, clientId: `bench-lat-pub-${runId}` });
    clients.push(client);
    const publisher = new Publisher(client, { topic: TOPIC, qos: 1, payloadBytes: PAYLOAD_BYTES, publisherIndex: 0, batchSize: 64 });

    // Open-loop pacing: each tick sends what the schedule says is due, so a slow
    // broker shows up as latency (and, past the window, as a missed schedule).
    let windowStalls = 0;
    const startMs = performance.now();
    timer = setInterval(() => {
      const due = Math.floor(((performance.now() - startMs) * ratePerSec) / 1000) - publisher.sent;
      const room = window - publisher.inflight;
      if (due > room) windowStalls++;
      let n = Math.min(due, room);
      while (n > 0) {
        const batch = Math.min(n, 64);
        publisher.send(batch);
        n -= batch;
      }
    }, TICK_MS);

    await sleep(warmupMs);
    const pids = new Map<string, number>(target.pid === undefined ? [] : [['broker', target.pid]]);
    const cpu = new CpuMeter(pids);
    const deliveredBefore = delivered;
    const stallsBefore = windowStalls;
    const phaseStart = performance.now();
    cpu.start();
    recording = true;
    await sleep(options.durationMs);
    recording = false;
    const shares = cpu.stop();
    const elapsedSec = (performance.now() - phaseStart) / 1000;
    const deliveredInPhase = delivered - deliveredBefore;
    clearInterval(timer);
    timer = undefined;
    await settleUntil(() => tracker.unique >= publisher.sent, SETTLE_MS);

    const summary = recorder.summary();
    if (summary === undefined) throw new Error('no message arrived during the measured phase');
    const figures: Record<string, number> = {
      p50Ms: round3(summary.p50Ms),
      p99Ms: round3(summary.p99Ms),
      p999Ms: round3(summary.p999Ms),
      maxMs: round3(summary.maxMs),
      deliveredPerSec: Math.round(deliveredInPhase / elapsedSec),
      lossPct: lossPct(publisher.sent, tracker.unique),
      samples: recorder.count,
    };
    const rss = target.pid === undefined ? undefined : readRssBytes(target.pid);
    if (rss !== undefined) figures['brokerRssBytes'] = rss;
    const notes: Record<string, string | number> = {
      targetRatePerSec: ratePerSec,
      windowInFlight: window,
      windowStallTicks: windowStalls - stallsBefore,
      ...cpuNotes(shares),
    };
    return { figures, notes };
  } finally {
    if (timer !== undefined) clearInterval(timer);
    for (const client of clients) client.destroy();
  }
}

async function settleUntil(done: () => boolean, capMs: number): Promise<void> {
  const deadline = performance.now() + capMs;
  while (!done() && performance.now() < deadline) await sleep(10);
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

export const mqttLatency: Scenario = {
  name: 'mqtt-latency',
  description: `QoS 1 publisher paced at --rate msg/s (default ${DEFAULT_RATE_PER_SEC}) → QoS 1 subscriber: end-to-end p50/p99/p99.9 ms`,
  run: (options: BenchOptions): Promise<BenchResult[]> =>
    forEachTarget('mqtt-latency', options, (target) => measureLatency(target, options)),
};
