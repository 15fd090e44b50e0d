/**
 * What an ACL costs on the publish path: the fan-in throughput measurement
 * of `mqtt-throughput.ts`, run against Roost started twice in the same
 * bench run, once without an ACL (`roost`) and once with a 50-rule ACL
 * (`roost-acl`, through `ROOST_AUTH_ACL`), plus the ratio of the two
 * (`roost-acl/roost`).
 *
 * The bench clients connect anonymously. The ACL is shaped like a
 * multi-tenant gateway's: 36 rules for tenants' device, operator and user
 * groups (with `%c` and `%u` patterns), 12 broker-wide rules, most of which
 * apply to anonymous clients without naming the bench topics, and last the
 * two rules that let the bench publishers and subscriber in. Before each
 * measurement a probe subscription to `secrets/#` checks that the ACL is in
 * effect (refused) or not (granted), so a configuration that did not take
 * cannot pass for a free ACL.
 */

import type { AclRuleConfig } from '../../src/config/types.js';
import { RawMqttClient } from '../mqtt-raw.js';
import type { BenchOptions, BenchResult, Scenario } from '../scenario.js';
import type { Target } from '../targets/launch.js';
import { forEachTarget, type Measurement } from './each-target.js';
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

/**
 * One fan-in measurement after the probe; `expectAcl` undefined (an external
 * broker) reports what the probe found instead of insisting on it.
 */
async function measureChecked(target: Target, options: BenchOptions, plan: ThroughputPlan, expectAcl: boolean | undefined): Promise<Measurement> {
  const acl = await aclInEffect(target);
  if (expectAcl !== undefined && acl !== expectAcl) {
    throw new Error(`${acl ? 'an' : 'no'} ACL in effect: the probe subscription to ${PROBE_FILTER} was ${acl ? 'refused' : 'granted'}`);
  }
  const { figures, notes } = await measureThroughput(target, options, plan);
  const brokerCpuPct = notes?.['brokerCpuPct'];
  const delivered = figures['deliveredPerSec'];
  const perCpu: Record<string, number> =
    typeof brokerCpuPct === 'number' && brokerCpuPct > 0 && delivered !== undefined
      ? { deliveredPerBrokerCpuSec: Math.round(delivered / (brokerCpuPct / 100)) }
      : {};
  return {
    figures: { ...figures, ...perCpu },
    notes: { ...notes, acl: acl ? `in effect (probe ${PROBE_FILTER} refused)` : 'none' },
  };
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
 * Roost without, then with the ACL, each a fresh broker through
 * `forEachTarget` (quiet-machine wait, repeated disturbed attempts), then the
 * ratio. Reference targets (`--compare`, `--targets`) are not run: the ACL is
 * Roost's. With `--port` the running broker is measured once and the `acl`
 * note says whether it enforces an ACL (start it with `ROOST_AUTH_ACL` set to
 * `JSON.stringify(BENCH_ACL)` to profile the ACL case).
 */
async function runWithAndWithoutAcl(scenario: string, options: BenchOptions, plan: ThroughputPlan): Promise<BenchResult[]> {
  if (options.port !== undefined) {
    return forEachTarget(scenario, options, (target) => measureChecked(target, options, plan, undefined));
  }
  const roostOnly: BenchOptions = { ...options, extra: { ...options.extra, targets: 'roost' } };
  const without = await forEachTarget(scenario, roostOnly, (target) => measureChecked(target, options, plan, false));
  const withAcl = (
    await forEachTarget(scenario, roostOnly, (target) => measureChecked(target, options, plan, true), {
      env: { ROOST_AUTH_ACL: JSON.stringify(BENCH_ACL) },
    })
  ).map((result) => ({ ...result, target: ACL_TARGET }));
  const results = [...without, ...withAcl];
  const [off] = without;
  const [on] = withAcl;
  const ratio = off !== undefined && on !== undefined ? aclRatio(scenario, off, on) : undefined;
  return ratio === undefined ? results : [...results, ratio];
}

function aclScenario(name: string, description: string, plan: ThroughputPlan): Scenario {
  return { name, description, run: (options) => runWithAndWithoutAcl(name, options, plan) };
}

const ACL_DESCRIPTION = `roost without and with a ${BENCH_ACL.length}-rule ACL (bench clients allowed by the last two rules), and the ratio (roost only)`;

export const mqttFaninQos1Acl = aclScenario('mqtt-fanin-q1-acl', `mqtt-fanin-q1 against ${ACL_DESCRIPTION}`, FANIN_Q1_PLAN);

export const mqttFaninQos0Acl = aclScenario('mqtt-fanin-q0-acl', `mqtt-fanin-q0 against ${ACL_DESCRIPTION}`, FANIN_Q0_PLAN);

export const aclScenarios: readonly Scenario[] = [mqttFaninQos1Acl, mqttFaninQos0Acl];
