/**
 * Store scenarios: Roost's LevelDB persistence against aedes-persistence-level,
 * both driven through aedes' async persistence interface, in one process and
 * one run, each on its own fresh LevelDB in a temp dir.
 *
 * - store-retained-wildcard: 100,000 retained topics `site/<i%100>/dev/<i>/temp`,
 *   then a subscribe-style lookup `site/7/dev/+/temp` (1,000 matches) through
 *   createRetainedStreamCombi, repeated; median and best ms.
 * - store-fanout-offline: 100 offline persistent sessions subscribed to one
 *   topic; each QoS 1 packet is matched with subscriptionsByTopic and queued
 *   with outgoingEnqueueCombi, as aedes does, 10 publishes in flight; then the
 *   outgoingStream of 20 sessions is drained (median rate; the first, cold, too).
 *
 * Flags: --retained=<n> (100000), --messages=<n> (2000), --sessions=<n> (100),
 * --repeat=<n> (10).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Level } from 'level';
import type { BenchOptions, BenchResult, Scenario } from '../scenario.js';
import { LevelStore } from '../../src/store/level-store.js';
import { AedesLevelPersistence } from '../../src/store/aedes-persistence.js';

/** The slice of aedes' async persistence interface both targets are driven through. */
interface Persistence {
  setup(broker: { id: string }): Promise<void>;
  storeRetained(packet: object): Promise<void>;
  createRetainedStreamCombi(patterns: string[]): Readable;
  addSubscriptions(client: { id: string }, subs: object[]): Promise<unknown>;
  subscriptionsByTopic(topic: string): Promise<Array<{ clientId: string }>>;
  outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: object): Promise<unknown>;
  outgoingStream(client: { id: string }): Readable;
  destroy(): Promise<void>;
}

interface Target {
  readonly name: string;
  readonly persistence: Persistence;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
const BROKER = { id: 'bench-broker', counter: 0 };

async function roostTarget(dir: string): Promise<Target> {
  const store = await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 10_000_000 });
  const persistence = new AedesLevelPersistence(store, { ownsStore: true }) as unknown as Persistence;
  await persistence.setup(BROKER);
  return { name: 'roost', persistence, close: () => persistence.destroy() };
}

async function aedesLevelTarget(dir: string): Promise<Target> {
  const AsyncLevelPersistence = require('aedes-persistence-level/asyncPersistence.js') as new (db: unknown) => Persistence;
  const db = new Level(dir);
  await db.open();
  const persistence = new AsyncLevelPersistence(db);
  await persistence.setup(BROKER);
  return { name: 'aedes-persistence-level', persistence, close: () => persistence.destroy() };
}

const TARGETS: ReadonlyArray<(dir: string) => Promise<Target>> = [roostTarget, aedesLevelTarget];

function intFlag(options: BenchOptions, name: string, fallback: number): number {
  const v = options.extra[name];
  const n = typeof v === 'string' ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

async function count(stream: Readable): Promise<number> {
  let n = 0;
  for await (const _ of stream) n++;
  return n;
}

/** Runs `task(i)` for i in [0, total) with at most `window` in flight. */
async function windowed(total: number, window: number, deadline: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total && performance.now() < deadline) await task(next++);
  };
  await Promise.all(Array.from({ length: window }, worker));
  return next;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Sessions whose queue is drained after the enqueue phase. */
const DRAINS = 20;

const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

async function withTargets(run: (target: Target) => Promise<BenchResult>): Promise<BenchResult[]> {
  const root = await mkdtemp(join(tmpdir(), 'roost-bench-store-'));
  const results: BenchResult[] = [];
  try {
    for (let i = 0; i < TARGETS.length; i++) {
      const target = await (TARGETS[i] as (dir: string) => Promise<Target>)(join(root, String(i)));
      try {
        results.push(await run(target));
      } finally {
        await target.close();
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return results;
}

/** Adds `<figure>RatioVsAedesPersistenceLevel` to the roost result: how many times better roost is. */
function withRatio(results: BenchResult[], figure: string, higherIsBetter: boolean): BenchResult[] {
  const ours = results.find((r) => r.target === 'roost');
  const theirs = results.find((r) => r.target === 'aedes-persistence-level');
  const a = ours?.figures[figure];
  const b = theirs?.figures[figure];
  if (!ours || a === undefined || b === undefined || a === 0 || b === 0) return results;
  const ratio = round(higherIsBetter ? a / b : b / a);
  return results.map((r) => (r === ours ? { ...r, figures: { ...r.figures, [`${figure}RatioVsAedesPersistenceLevel`]: ratio } } : r));
}

const retainedWildcard: Scenario = {
  name: 'store-retained-wildcard',
  description: '100k retained topics, then a site/7/dev/+/temp lookup via createRetainedStreamCombi: Roost store vs aedes-persistence-level',
  async run(options) {
    const retained = intFlag(options, 'retained', 100_000);
    const repeat = intFlag(options, 'repeat', 10);
    const payload = Buffer.from('{"t":21.5,"unit":"C"}');
    const results = await withTargets(async ({ name, persistence }) => {
      const loadStart = performance.now();
      const loaded = await windowed(retained, 64, Number.POSITIVE_INFINITY, (i) =>
        persistence.storeRetained({ cmd: 'publish', topic: `site/${i % 100}/dev/${i}/temp`, payload, qos: 0, retain: true, brokerId: BROKER.id, brokerCounter: i + 1 }),
      );
      const loadMs = performance.now() - loadStart;
      const deadline = performance.now() + options.durationMs;
      const times: number[] = [];
      let matched = 0;
      for (let r = 0; r < repeat && (r === 0 || performance.now() < deadline); r++) {
        const t0 = performance.now();
        matched = await count(persistence.createRetainedStreamCombi(['site/7/dev/+/temp']));
        times.push(performance.now() - t0);
      }
      return {
        scenario: 'store-retained-wildcard',
        target: name,
        figures: { retainedTopics: loaded, matched, lookupMedianMs: round(median(times)), lookupBestMs: round(Math.min(...times)), repetitions: times.length, loadMs: round(loadMs, 0) },
        notes: { filter: 'site/7/dev/+/temp', storeWindow: 64 },
      };
    });
    return withRatio(results, 'lookupMedianMs', false);
  },
};

const fanoutOffline: Scenario = {
  name: 'store-fanout-offline',
  description: '100 offline persistent sessions on one topic, QoS 1 packets queued via outgoingEnqueueCombi, then one session drained: Roost store vs aedes-persistence-level',
  async run(options) {
    const sessions = intFlag(options, 'sessions', 100);
    const messages = intFlag(options, 'messages', 2_000);
    const topic = 'fleet/alerts';
    const payload = Buffer.alloc(64, 0x61);
    const results = await withTargets(async ({ name, persistence }) => {
      for (let s = 0; s < sessions; s++) {
        await persistence.addSubscriptions({ id: `device-${s}` }, [{ topic, qos: 1, rh: 0, rap: false, nl: false }]);
      }
      const deadline = performance.now() + options.durationMs;
      const t0 = performance.now();
      const sent = await windowed(messages, 10, deadline, async (i) => {
        const subs = await persistence.subscriptionsByTopic(topic);
        await persistence.outgoingEnqueueCombi(subs, { cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false, brokerId: BROKER.id, brokerCounter: i + 1 });
      });
      const enqueueS = (performance.now() - t0) / 1000;
      // Drain several sessions: the first read is cold (JIT, block cache), so the median is the figure.
      const rates: number[] = [];
      let drained = 0;
      for (let s = 0; s < Math.min(DRAINS, sessions); s++) {
        const d0 = performance.now();
        drained = await count(persistence.outgoingStream({ id: `device-${s}` }));
        rates.push(drained / ((performance.now() - d0) / 1000));
      }
      return {
        scenario: 'store-fanout-offline',
        target: name,
        figures: {
          sessions,
          messages: sent,
          enqueuedMsgsPerSec: round(sent / enqueueS, 0),
          queueEntriesPerSec: round((sent * sessions) / enqueueS, 0),
          drained,
          drainMsgsPerSec: round(median(rates), 0),
          drainFirstMsgsPerSec: round(rates[0] ?? 0, 0),
        },
        notes: { publishesInFlight: 10, payloadBytes: payload.length, sessionsDrained: rates.length },
      };
    });
    return withRatio(withRatio(results, 'enqueuedMsgsPerSec', true), 'drainMsgsPerSec', true);
  },
};

export const storeScenarios: Scenario[] = [retainedWildcard, fanoutOffline];
