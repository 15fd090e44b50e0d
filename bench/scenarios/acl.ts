/**
 * What an ACL costs on the publish path: the fan-in throughput measurement
 * of `mqtt-throughput.ts` against Roost without an ACL (`roost`) and with a
 * 50-rule ACL (`roost-acl`, through `ROOST_AUTH_ACL`), and the ratio of the
 * two (`roost-acl/roost`).
 *
 * On a shared machine one measurement of each side says more about what
 * else ran at the time than about the ACL. So both brokers run side by side
 * (the idle one costs nothing) and are measured in alternation over several
 * short rounds, off-on then on-off, so drift in the machine's load falls on
 * both sides alike. Each side reports the median of every figure over the
 * rounds, with the lowest and highest `deliveredPerSec`; the ratio result
 * holds the ratio of the medians and the spread of the per-round ratios.
 *
 * The bench clients connect anonymously. The ACL is shaped like a
 * multi-tenant gateway's: 36 rules for tenants' device, operator and user
 * groups (with `%c` and `%u` patterns), 12 broker-wide rules, most of which
 * apply to anonymous clients without naming the bench topics, and last the
 * two rules that let the bench publishers and subscriber in. Before the
 * rounds a probe subscription to `secrets/#` checks that the ACL is in
 * effect (refused) or not (granted), so a configuration that did not take
 * cannot pass for a free ACL.
 */

import type { AclRuleConfig } from '../../src/config/types.js';
import { RawMqttClient } from '../mqtt-raw.js';
import type { BenchOptions, BenchResult, Scenario } from '../scenario.js';
import { startTarget, TargetUnavailableError, type RunningTarget, type Target } from '../targets/launch.js';
import { forEachTarget, numberFlag, type Measurement } from './each-target.js';
import { FANIN_Q0_PLAN, FANIN_Q1_PLAN, measureThroughput, type ThroughputPlan } from './mqtt-throughput.js';

/** The target name of Roost started with `BENCH_ACL`. */
export const ACL_TARGET = 'roost-acl';
/** A filter the ACL refuses to anonymous clients (deny overlaps it) and that is granted without an ACL. */
export const PROBE_FILTER = 'secrets/#';

const TENANTS = 12;

/** Three rules per tenant, for its groups only: none applies to an anonymous client. */
function tenantRules(tenant: number): AclRuleConfig[] {
  const id = `t${String(tenant).padStart(2, '0')}`;
  return [
    {
      allow: {
        publish: [`tenants/${id}/devices/%c/telemetry/#`, `tenants/${id}/devices/%c/state`],
        subscribe: [`tenants/${id}/devices/%c/commands/#`, `tenants/${id}/broadcast/#`],
      },
      groups: [`${id}-devices`],
    },
    {
      allow: {
        publish: [`tenants/${id}/devices/+/commands/#`, `tenants/${id}/broadcast/#`],
        subscribe: [`tenants/${id}/#`],
        consume: [`${id}.telemetry.*`],
      },
      groups: [`${id}-operators`],
    },
    {
      allow: {
        publish: [`tenants/${id}/users/%u/requests/#`],
        subscribe: [`tenants/${id}/users/%u/#`, `tenants/${id}/dashboards/+/summary`],
      },
      groups: [`${id}-users`, `${id}-operators`],
    },
  ];
}

/**
 * The 50 rules: 48 that do not let the bench clients do what they do, then
 * the two that do (49: the publishers' `bench/+`, 50: the subscriber's
 * `bench/#`), so a decision for a bench client reads past every rule that
 * applies to it before one decides.
 */
export const BENCH_ACL: readonly AclRuleConfig[] = [
  // Broker-wide denies first: nobody anonymous near secrets or the operators' tree.
  { deny: { publish: ['secrets/#', 'ops/#'], subscribe: ['secrets/#', 'ops/#'] }, anonymous: true },
  { deny: { subscribe: ['tenants/+/devices/+/commands/#'] }, anonymous: true },
  { deny: { publish: ['firmware/+/images/#'] } },
  ...Array.from({ length: TENANTS }, (_, t) => tenantRules(t + 1)).flat(),
  // Broker-wide allows for device provisioning, presence and public data.
  { allow: { publish: ['devices/%c/hello'], subscribe: ['devices/%c/config', 'devices/%c/config/#'] }, anonymous: true },
  { allow: { publish: ['status/%c/online', 'status/%c/offline'], subscribe: ['status/+/online'] } },
  { allow: { subscribe: ['public/#', 'weather/+/current', 'weather/+/forecast/#'] } },
  { allow: { publish: ['time/%c/request'], subscribe: ['time/%c/response', 'time/broadcast'] }, anonymous: true },
  { allow: { publish: ['firmware/%c/progress'], subscribe: ['firmware/%c/offer', 'firmware/announcements/#'] }, anonymous: true },
  { allow: { publish: ['lab/%c/#'], subscribe: ['lab/%c/#'] }, anonymous: true },
  { allow: { publish: ['alerts/%c/+'], subscribe: ['alerts/+/critical'] } },
  { allow: { produce: ['inbox.%c'], consume: ['outbox.%c'] }, anonymous: true },
  { allow: { publish: ['%u/#'], subscribe: ['%u/#'] }, anonymous: false },
  // The bench clients: publishers on bench/p<i>, one subscriber on bench/#.
  { allow: { publish: ['bench/+'] }, anonymous: true },
  { allow: { subscribe: ['bench/#'] }, anonymous: true },
];

/** Rules that apply to an anonymous client (no users or groups, `anonymous` not false): what its decisions read. */
export function rulesForAnonymous(rules: readonly AclRuleConfig[]): number {
  return rules.filter((rule) => rule.users === undefined && rule.groups === undefined && rule.anonymous !== false).length;
}

/**
 * Whether the broker refuses the probe subscription, i.e. an ACL is in effect.
 * @throws Error when the probe cannot connect or its connection ends.
 */
async function aclInEffect(target: Target): Promise<boolean> {
  const probe = await RawMqttClient.connect({ host: target.host, port: target.port, clientId: `bench-acl-probe-${process.pid}` });
  try {
    await probe.subscribe(PROBE_FILTER, 0);
    return false;
  } catch (err) {
    if (probe.closed) throw err;
    return true;
  } finally {
    probe.destroy();
  }
}

/** Rounds of each side (`--rounds`). */
const DEFAULT_ROUNDS = 5;
/** Measured phase of one round, ms (`--round-ms`); warm-up and settling come on top. */
const DEFAULT_ROUND_MS = 2_000;
/** Figures whose lowest and highest round are reported beside the median. */
const SPREAD_FIGURES = ['deliveredPerSec', 'deliveredPerBrokerCpuSec'] as const;
/** CPU shares, medians of the rounds, kept as numeric notes (the table shows them). */
const CPU_NOTES = ['brokerCpuPct', 'generatorCpuPct', 'othersCpuPct'] as const;

/**
 * Checks that `target` enforces an ACL or not, as `expectAcl` says.
 * @throws Error when it does not, or the probe cannot connect.
 */
async function checkAcl(target: Target, expectAcl: boolean): Promise<void> {
  const acl = await aclInEffect(target);
  if (acl !== expectAcl) {
    throw new Error(`${acl ? 'an' : 'no'} ACL in effect: the probe subscription to ${PROBE_FILTER} was ${acl ? 'refused' : 'granted'}`);
  }
}

/** One fan-in measurement, with `deliveredPerBrokerCpuSec` when the broker's CPU share is known. */
async function measureOnce(target: Target, options: BenchOptions, plan: ThroughputPlan): Promise<Measurement> {
  const { figures, notes } = await measureThroughput(target, options, plan);
  const brokerCpuPct = notes?.['brokerCpuPct'];
  const delivered = figures['deliveredPerSec'];
  const perCpu: Record<string, number> =
    typeof brokerCpuPct === 'number' && brokerCpuPct > 0 && delivered !== undefined
      ? { deliveredPerBrokerCpuSec: Math.round(delivered / (brokerCpuPct / 100)) }
      : {};
  return { figures: { ...figures, ...perCpu }, ...(notes === undefined ? {} : { notes }) };
}

/** The median of `values` (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;

/**
 * One side's rounds as one result: the median of each figure (over the
 * rounds that have it), the lowest and highest round of `SPREAD_FIGURES`
 * (`deliveredPerSecMin`, `deliveredPerSecMax`), the medians of the CPU
 * shares, and each round's `deliveredPerSec` and `othersCpuPct` in the notes.
 */
export function summarizeRounds(scenario: string, target: string, rounds: readonly Measurement[], acl: string): BenchResult {
  const figures: Record<string, number> = {};
  const names = new Set(rounds.flatMap((round) => Object.keys(round.figures)));
  const valuesOf = (name: string): number[] => rounds.map((round) => round.figures[name]).filter((v): v is number => v !== undefined);
  for (const name of names) figures[name] = Math.round(median(valuesOf(name)) * 1000) / 1000;
  for (const name of SPREAD_FIGURES) {
    const values = valuesOf(name);
    if (values.length === 0) continue;
    figures[`${name}Min`] = Math.min(...values);
    figures[`${name}Max`] = Math.max(...values);
  }
  const notes: Record<string, string | number> = { rounds: rounds.length, acl };
  for (const name of CPU_NOTES) {
    const values = rounds.map((round) => round.notes?.[name]).filter((v): v is number => typeof v === 'number');
    if (values.length > 0) notes[name] = Math.round(median(values) * 10) / 10;
  }
  notes['deliveredPerSecRounds'] = rounds.map((round) => round.figures['deliveredPerSec'] ?? 'none').join(' ');
  notes['othersCpuPctRounds'] = rounds.map((round) => round.notes?.['othersCpuPct'] ?? '?').join(' ');
  return { scenario, target, figures, notes };
}

/**
 * The ratio result of alternating rounds: each figure of the ACL side's
 * medians divided by the same of the side without (`aclRatio`), then, for
 * `deliveredPerSec`, the per-round ratios (round i with the ACL over round i
 * without): their median, lowest and highest. Undefined when nothing divides.
 */
export function alternatingRatio(scenario: string, off: readonly Measurement[], on: readonly Measurement[]): BenchResult | undefined {
  const strip = (result: BenchResult): BenchResult => ({
    ...result,
    figures: Object.fromEntries(Object.entries(result.figures).filter(([name]) => !/(Min|Max)$/.test(name))),
  });
  const ratio = aclRatio(scenario, strip(summarizeRounds(scenario, 'roost', off, '')), strip(summarizeRounds(scenario, ACL_TARGET, on, '')));
  if (ratio === undefined) return undefined;
  const paired: number[] = [];
  for (let i = 0; i < Math.min(off.length, on.length); i++) {
    const base = off[i]?.figures['deliveredPerSec'];
    const value = on[i]?.figures['deliveredPerSec'];
    if (base !== undefined && base > 0 && value !== undefined) paired.push(value / base);
  }
  if (paired.length === 0) return ratio;
  return {
    ...ratio,
    figures: {
      ...ratio.figures,
      deliveredPerSecPairedMedian: round3(median(paired)),
      deliveredPerSecPairedMin: round3(Math.min(...paired)),
      deliveredPerSecPairedMax: round3(Math.max(...paired)),
    },
    notes: { deliveredPerSecRatioRounds: paired.map(round3).join(' ') },
  };
}

/**
 * Both brokers started side by side, probed, then measured in alternation:
 * round i measures off then on for even i, on then off for odd i, each a
 * fresh set of clients with its own warm-up. Both are stopped afterwards,
 * also on failure, which becomes an `error` (or `skipped`) note.
 */
async function runAlternating(scenario: string, options: BenchOptions, plan: ThroughputPlan): Promise<BenchResult[]> {
  const rounds = Math.floor(numberFlag(options, 'rounds', DEFAULT_ROUNDS));
  const roundOptions: BenchOptions = { ...options, durationMs: Math.floor(numberFlag(options, 'round-ms', DEFAULT_ROUND_MS)) };
  const started: RunningTarget[] = [];
  try {
    const off = await startTarget('roost');
    started.push(off);
    const on = await startTarget('roost', { env: { ROOST_AUTH_ACL: JSON.stringify(BENCH_ACL) } });
    started.push(on);
    await checkAcl(off, false);
    await checkAcl(on, true);
    const measured = { off: [] as Measurement[], on: [] as Measurement[] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
      for (const side of order) {
        process.stderr.write(`bench: ${scenario}: round ${round + 1}/${rounds}, ACL ${side}\n`);
        measured[side].push(await measureOnce(side === 'on' ? on : off, roundOptions, plan));
        const target = side === 'on' ? on : off;
        if (!target.alive) throw new Error(`the broker ${side === 'on' ? 'with' : 'without'} the ACL exited during round ${round + 1}`);
      }
    }
    const results = [
      summarizeRounds(scenario, 'roost', measured.off, 'none'),
      summarizeRounds(scenario, ACL_TARGET, measured.on, `in effect (probe ${PROBE_FILTER} refused)`),
    ];
    const ratio = alternatingRatio(scenario, measured.off, measured.on);
    return ratio === undefined ? results : [...results, ratio];
  } catch (err) {
    const note = err instanceof TargetUnavailableError ? 'skipped' : 'error';
    return [{ scenario, target: 'roost', figures: {}, notes: { [note]: err instanceof Error ? err.message : String(err) } }];
  } finally {
    await Promise.all(started.map((target) => target.stop()));
  }
}

/** An external broker (`--port`): one fan-in measurement, its `acl` note saying what the probe found. */
async function measureExternal(target: Target, options: BenchOptions, plan: ThroughputPlan): Promise<Measurement> {
  const acl = await aclInEffect(target);
  const { figures, notes } = await measureOnce(target, options, plan);
  return { figures, notes: { ...notes, acl: acl ? `in effect (probe ${PROBE_FILTER} refused)` : 'none' } };
}

/** Each figure of `withAcl` divided by the same figure of `without` (3 decimals); zero denominators left out. */
export function aclRatio(scenario: string, without: BenchResult, withAcl: BenchResult): BenchResult | undefined {
  const figures: Record<string, number> = {};
  for (const [name, value] of Object.entries(withAcl.figures)) {
    const base = without.figures[name];
    if (base === undefined || base === 0) continue;
    figures[name] = Math.round((value / base) * 1000) / 1000;
  }
  if (Object.keys(figures).length === 0) return undefined;
  return { scenario, target: `${ACL_TARGET}/${without.target}`, figures };
}

/**
 * Roost without and with the ACL in alternating rounds (`runAlternating`).
 * Reference targets (`--compare`, `--targets`) are not run: the ACL is
 * Roost's. With `--port` the running broker is measured once and the `acl`
 * note says whether it enforces an ACL (start it with `ROOST_AUTH_ACL` set to
 * `JSON.stringify(BENCH_ACL)` to profile the ACL case).
 */
async function runWithAndWithoutAcl(scenario: string, options: BenchOptions, plan: ThroughputPlan): Promise<BenchResult[]> {
  if (options.port !== undefined) {
    return forEachTarget(scenario, options, (target) => measureExternal(target, options, plan));
  }
  return runAlternating(scenario, options, plan);
}

function aclScenario(name: string, description: string, plan: ThroughputPlan): Scenario {
  return { name, description, run: (options) => runWithAndWithoutAcl(name, options, plan) };
}

const ACL_DESCRIPTION = `roost without and with a ${BENCH_ACL.length}-rule ACL (bench clients allowed by the last two rules), alternating rounds (--rounds, default ${DEFAULT_ROUNDS}, --round-ms, default ${DEFAULT_ROUND_MS}): medians, spread and the ratio (roost only)`;

export const mqttFaninQos1Acl = aclScenario('mqtt-fanin-q1-acl', `mqtt-fanin-q1 against ${ACL_DESCRIPTION}`, FANIN_Q1_PLAN);

export const mqttFaninQos0Acl = aclScenario('mqtt-fanin-q0-acl', `mqtt-fanin-q0 against ${ACL_DESCRIPTION}`, FANIN_Q0_PLAN);

export const aclScenarios: readonly Scenario[] = [mqttFaninQos1Acl, mqttFaninQos0Acl];
