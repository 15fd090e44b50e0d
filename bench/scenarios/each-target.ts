/**
 * What every scenario does around its measurement: choose the targets,
 * start each one in its own process, measure, and always stop it.
 */

import { availableParallelism } from 'node:os';
import type { BenchOptions, BenchResult } from '../scenario.js';
import { readMachineBusyMs } from '../proc.js';
import {
  sleep,
  startTarget,
  TARGET_NAMES,
  TargetUnavailableError,
  type RunningTarget,
  type StartOptions,
  type Target,
  type TargetName,
} from '../targets/launch.js';

/** What one measurement of one target produced. */
export type Measurement = Pick<BenchResult, 'figures' | 'notes'>;

/**
 * The targets of a run: the broker at `--port` when one is given; else those
 * named by `--targets a,b`; else `roost`, plus `aedes` and `mosquitto` with `--compare`.
 * @throws Error on an unknown name in `--targets`.
 */
export function chooseTargets(options: BenchOptions): Array<TargetName | 'external'> {
  if (options.port !== undefined) return ['external'];
  const named = options.extra['targets'];
  if (typeof named === 'string') {
    const names = named.split(',').map((name) => name.trim()).filter((name) => name !== '');
    for (const name of names) {
      if (!(TARGET_NAMES as readonly string[]).includes(name)) {
        throw new Error(`--targets: unknown target "${name}"; expected some of ${TARGET_NAMES.join(', ')}`);
      }
    }
    return names as TargetName[];
  }
  return options.compare ? ['roost', 'aedes', 'mosquitto'] : ['roost'];
}

/**
 * Runs `measure` per target, each time against a freshly started broker
 * that is stopped afterwards, also when `measure` throws. A measurement
 * during which other processes were busy is repeated (`--attempts`, default
 * 3) and the least disturbed one is reported. A target that cannot start or
 * whose measurement fails gives a result with a `skipped` or `error` note
 * instead of ending the whole run.
 */
export async function forEachTarget(
  scenario: string,
  options: BenchOptions,
  measure: (target: Target) => Promise<Measurement>,
  startOptions: StartOptions = {},
): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const name of chooseTargets(options)) {
    if (name === 'external') {
      const pid = numberFlag(options, 'pid', 0);
      const target: Target = { name: 'external', host: options.host, port: options.port as number, pid: pid > 0 ? pid : undefined };
      results.push(await measureSafely(scenario, target, measure));
      continue;
    }
    const attempts = Math.floor(numberFlag(options, 'attempts', DEFAULT_ATTEMPTS));
    let best: BenchResult | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const result = await startAndMeasure(scenario, name, options, measure, startOptions);
      if (best === undefined || othersCpu(result) < othersCpu(best)) best = result;
      // Keep the least disturbed attempt; retry only while other processes skewed the last one.
      if (othersCpu(result) < DISTURBED_OTHERS_PCT || Object.keys(result.figures).length === 0) break;
      if (attempt < attempts) {
        process.stderr.write(`bench: ${scenario}/${name}: other processes used ${othersCpu(result)}% of a core; measuring again\n`);
      }
    }
    if (best !== undefined) results.push(best);
  }
  return results;
}

/** Measurements during which other processes used more than this (percent of one core) are repeated. */
const DISTURBED_OTHERS_PCT = 25;
/** Most measurements of one target (`--attempts`); the least disturbed is reported. */
const DEFAULT_ATTEMPTS = 3;

function othersCpu(result: BenchResult): number {
  const others = result.notes?.['othersCpuPct'];
  return typeof others === 'number' ? others : 0;
}

/** One attempt: wait for a quiet machine, start a fresh broker, measure, stop it. */
async function startAndMeasure(
  scenario: string,
  name: TargetName,
  options: BenchOptions,
  measure: (target: Target) => Promise<Measurement>,
  startOptions: StartOptions,
): Promise<BenchResult> {
  const waitedMs = await waitForQuietMachine(numberFlag(options, 'quiet-wait-ms', DEFAULT_QUIET_WAIT_MS, true));
  if (waitedMs > 0) process.stderr.write(`bench: waited ${Math.round(waitedMs)} ms for other processes to quiet down\n`);
  let running: RunningTarget;
  try {
    running = await startTarget(name, startOptions);
  } catch (err) {
    const note = err instanceof TargetUnavailableError ? 'skipped' : 'error';
    return { scenario, target: name, figures: {}, notes: { [note]: messageOf(err) } };
  }
  try {
    const result = await measureSafely(scenario, running, measure);
    return running.alive ? result : { ...result, notes: { ...result.notes, error: 'broker process exited during the run' } };
  } finally {
    await running.stop();
  }
}

async function measureSafely(
  scenario: string,
  target: Target,
  measure: (target: Target) => Promise<Measurement>,
): Promise<BenchResult> {
  try {
    const { figures, notes } = await measure(target);
    return { scenario, target: target.name, figures, ...(notes === undefined ? {} : { notes }) };
  } catch (err) {
    return { scenario, target: target.name, figures: {}, notes: { error: messageOf(err) } };
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A positive (or, with `allowZero`, non-negative) numeric scenario flag
 * (`--rate 5000`), or `fallback` when absent.
 * @throws Error when the flag is present but not such a number.
 */
export function numberFlag(options: BenchOptions, name: string, fallback: number, allowZero = false): number {
  const value = options.extra[name];
  if (value === undefined) return fallback;
  const parsed = typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isFinite(parsed) || parsed < 0 || (parsed === 0 && !allowZero)) {
    throw new Error(`--${name}: expected a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(value)}`);
  }
  return parsed;
}

/** Longest wait for a quiet machine before each target, ms (`--quiet-wait-ms`; 0 disables). */
const DEFAULT_QUIET_WAIT_MS = 30_000;
/** Busy CPU, in percent of one core, below which the machine counts as quiet. */
const QUIET_BUSY_PCT = 20;
const QUIET_SAMPLE_MS = 500;

/**
 * On a shared machine another process's build or test run skews every
 * figure, so before starting a target wait (at most `maxWaitMs`) until the
 * whole machine is nearly idle. Returns how long it waited, ms. Nothing
 * stops another process from starting mid-measurement: that is what the
 * `othersCpuPct` note is for.
 */
async function waitForQuietMachine(maxWaitMs: number): Promise<number> {
  if (maxWaitMs <= 0) return 0;
  const start = performance.now();
  for (let sample = 0; performance.now() - start < maxWaitMs; sample++) {
    const before = readMachineBusyMs();
    const sampleStart = performance.now();
    await sleep(QUIET_SAMPLE_MS);
    const after = readMachineBusyMs();
    if (before === undefined || after === undefined) return 0;
    const busyPct = ((after - before) / (performance.now() - sampleStart)) * 100;
    // The first sample is the check itself, not a wait.
    if (busyPct < QUIET_BUSY_PCT) return sample === 0 ? 0 : sampleStart - start;
  }
  return performance.now() - start;
}

/** The CPU shares of a measured phase as result notes, with the `limit` they point to. */
export function cpuNotes(shares: Readonly<Record<string, number>>): Record<string, string | number> {
  const notes: Record<string, string | number> = { generatorCpuPct: shares['generator'] ?? 0 };
  if (shares['broker'] !== undefined) notes['brokerCpuPct'] = shares['broker'];
  if (shares['others'] !== undefined) notes['othersCpuPct'] = shares['others'];
  notes['limit'] = limitNote(shares, availableParallelism());
  return notes;
}

/**
 * Names the resource that most plausibly capped a throughput figure, from
 * the CPU shares (percent of one core) of the generator and the broker.
 * Each broker under test does its work on one thread, and so does the
 * generator: a share of 80% or more (Node adds GC threads on top) means
 * that process was saturated.
 */
export function limitNote(shares: Readonly<Record<string, number>>, cores: number): string {
  const generator = shares['generator'] ?? 0;
  const broker = shares['broker'];
  const others = shares['others'] ?? 0;
  const shared = others >= 25 ? `; other processes on the machine used ${others}% of a core meanwhile` : '';
  return limitByProcess(generator, broker, cores) + shared;
}

function limitByProcess(generator: number, broker: number | undefined, cores: number): string {
  if (broker === undefined) return `generator at ${generator}% of a core; broker CPU unknown (external, no --pid)`;
  if (broker >= 80 && broker >= generator) {
    const alsoGenerator = generator >= 80 ? `; generator close behind (${generator}%)` : '';
    return `broker CPU (${broker}% of a core)${alsoGenerator}`;
  }
  if (generator >= 80) return `generator CPU (${generator}% of a core)`;
  if (broker + generator >= cores * 100 * 0.9) return `all ${cores} cores busy (broker ${broker}%, generator ${generator}%)`;
  return `neither process CPU-bound (broker ${broker}%, generator ${generator}%): protocol round trips or flow control`;
}
