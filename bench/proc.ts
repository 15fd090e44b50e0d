/**
 * Per-process CPU time and memory, read from Linux /proc, so each figure can
 * say whether the broker or the load generator was the limit.
 */

import { readFileSync } from 'node:fs';

/** Linux reports utime/stime in clock ticks; USER_HZ is 100 on every mainstream kernel config. */
const CLOCK_TICKS_PER_SEC = 100;

/** CPU time (user + system) consumed so far by `pid`, ms; undefined when the process is gone or /proc is absent. */
export function readCpuMs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses; fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is index 0, so utime (field 14) is 11 and stime (field 15) is 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SEC;
}

/** Busy CPU time of the whole machine so far (all cores, everything but idle and iowait), ms. */
export function readMachineBusyMs(): number | undefined {
  let stat: string;
  try {
    stat = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const line = stat.slice(0, stat.indexOf('\n'));
  if (!line.startsWith('cpu ')) return undefined;
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already inside user.
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return ((total - idle) * 1000) / CLOCK_TICKS_PER_SEC;
}

/** Resident set size of `pid` (VmRSS), bytes; undefined when unreadable. */
export function readRssBytes(pid: number): number | undefined {
  return readStatusKb(pid, 'VmRSS');
}

/** Peak resident set size of `pid` (VmHWM), bytes; undefined when unreadable. */
export function readPeakRssBytes(pid: number): number | undefined {
  return readStatusKb(pid, 'VmHWM');
}

function readStatusKb(pid: number, key: string): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}

/** Soft and hard limits on open files of `pid` ('unlimited' is reported as Infinity). */
export function readOpenFilesLimit(pid: number | 'self'): { soft: number; hard: number } | undefined {
  let limits: string;
  try {
    limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  const parse = (value: string): number => (value === 'unlimited' ? Infinity : Number(value));
  return { soft: parse(match[1]), hard: parse(match[2]) };
}

/** CPU used by a process over a measured phase, as a percentage of one core (200 = two cores busy). */
export interface CpuShare {
  readonly cpuPct: number;
}

/**
 * Snapshots the CPU time of this process and of each watched child at
 * `start()`, and reports each one's share of the wall time at `stop()`.
 * The harness's own time comes from `process.cpuUsage()` (microsecond
 * resolution); children's from /proc at 10 ms resolution, which is ample
 * over a phase of seconds.
 */
export class CpuMeter {
  readonly #pids: ReadonlyMap<string, number>;
  #startWallMs = 0;
  #startSelf: NodeJS.CpuUsage | undefined;
  #startMachine: number | undefined;
  readonly #startChild = new Map<string, number | undefined>();

  /** @param pids name → pid of each child to watch (`broker` → 1234). */
  constructor(pids: ReadonlyMap<string, number>) {
    this.#pids = pids;
  }

  start(): void {
    this.#startWallMs = performance.now();
    this.#startSelf = process.cpuUsage();
    this.#startMachine = readMachineBusyMs();
    for (const [name, pid] of this.#pids) this.#startChild.set(name, readCpuMs(pid));
  }

  /**
   * Percent of one core per process since `start()`: `generator` is this
   * process, the rest by the names given, and `others` what every other
   * process on the machine used meanwhile (a shared machine skews figures).
   */
  stop(): Record<string, number> {
    const machineEnd = readMachineBusyMs();
    const wallMs = performance.now() - this.#startWallMs;
    const shares: Record<string, number> = {};
    const self = process.cpuUsage(this.#startSelf);
    shares['generator'] = round1(((self.user + self.system) / 1000 / wallMs) * 100);
    for (const [name, pid] of this.#pids) {
      const before = this.#startChild.get(name);
      const after = readCpuMs(pid);
      if (before !== undefined && after !== undefined) shares[name] = round1(((after - before) / wallMs) * 100);
    }
    if (this.#startMachine !== undefined && machineEnd !== undefined) {
      const machine = ((machineEnd - this.#startMachine) / wallMs) * 100;
      const ours = Object.values(shares).reduce((a, b) => a + b, 0);
      shares['others'] = round1(Math.max(0, machine - ours));
    }
    return shares;
  }
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
