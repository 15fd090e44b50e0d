import { describe, expect, it } from 'vitest';
import { ACL_TARGET, aclRatio, alternatingRatio, BENCH_ACL, median, PROBE_FILTER, rulesForAnonymous, summarizeRounds } from '../../bench/scenarios/acl.js';
import type { Measurement } from '../../bench/scenarios/each-target.js';
import { FANIN_Q0_PLAN } from '../../bench/scenarios/mqtt-throughput.js';
import { Acl, type AclSubject } from '../../src/auth/acl.js';
import { loadConfig } from '../../src/config/load.js';

// Client ids shaped like the ones the throughput measurement connects with.
const publisher = (p: number): AclSubject => ({ username: undefined, clientId: `bench-pub-${p}-4242-abc`, groups: [] });
const subscriber: AclSubject = { username: undefined, clientId: 'bench-sub-0-4242-abc', groups: [] };

describe('BENCH_ACL', () => {
  it('has 50 rules that the config accepts from ROOST_AUTH_ACL unchanged', () => {
    expect(BENCH_ACL).toHaveLength(50);
    const { auth } = loadConfig({ env: { ROOST_AUTH_ACL: JSON.stringify(BENCH_ACL) }, flags: {} });
    expect(auth.acl).toEqual(BENCH_ACL);
  });

  it('lets the fan-in publishers and subscriber do what they do', () => {
    const acl = Acl.compile(BENCH_ACL);
    for (let p = 0; p < FANIN_Q0_PLAN.publishers; p++) expect(acl.decide(publisher(p), 'publish', FANIN_Q0_PLAN.topic(p))).toBe(true);
    expect(acl.decide(subscriber, 'subscribe', FANIN_Q0_PLAN.filter)).toBe(true);
  });

  it('decides for the bench clients only with its last two rules', () => {
    const without = Acl.compile(BENCH_ACL.slice(0, -2));
    expect(without.decide(publisher(3), 'publish', FANIN_Q0_PLAN.topic(3))).toBe(false);
    expect(without.decide(subscriber, 'subscribe', FANIN_Q0_PLAN.filter)).toBe(false);
    // Other rules do apply to anonymous clients: the walk is not trivially short.
    expect(rulesForAnonymous(BENCH_ACL.slice(0, -2))).toBeGreaterThanOrEqual(10);
  });

  it('refuses the probe subscription, which no ACL would grant', () => {
    expect(Acl.compile(BENCH_ACL).decide(subscriber, 'subscribe', PROBE_FILTER)).toBe(false);
    expect(Acl.compile([]).decide(subscriber, 'subscribe', PROBE_FILTER)).toBe(true);
  });
});

describe('aclRatio', () => {
  it('divides each figure with the ACL by the one without, leaving out zero denominators', () => {
    const without = { scenario: 's', target: 'roost', figures: { deliveredPerSec: 100_000, lossPct: 0 } };
    const withAcl = { scenario: 's', target: ACL_TARGET, figures: { deliveredPerSec: 95_000, lossPct: 0 } };
    expect(aclRatio('s', without, withAcl)).toEqual({ scenario: 's', target: 'roost-acl/roost', figures: { deliveredPerSec: 0.95 } });
    expect(aclRatio('s', { ...without, figures: {} }, withAcl)).toBeUndefined();
  });
});

describe('alternating rounds', () => {
  const round = (delivered: number, others: number, brokerCpuPct = 80): Measurement => ({
    figures: { deliveredPerSec: delivered, lossPct: 0, deliveredPerBrokerCpuSec: Math.round(delivered / (brokerCpuPct / 100)) },
    notes: { brokerCpuPct, generatorCpuPct: 50, othersCpuPct: others },
  });

  it('takes the median of an odd or even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('summarizes one side: medians, lowest and highest round, CPU medians, each round in the notes', () => {
    const result = summarizeRounds('s', 'roost', [round(100, 10), round(300, 90), round(120, 20)], 'none');
    expect(result.figures).toMatchObject({ deliveredPerSec: 120, deliveredPerSecMin: 100, deliveredPerSecMax: 300, lossPct: 0 });
    expect(result.notes).toMatchObject({ rounds: 3, acl: 'none', othersCpuPct: 20, brokerCpuPct: 80, deliveredPerSecRounds: '100 300 120', othersCpuPctRounds: '10 90 20' });
  });

  it('divides the medians, and gives the spread of the ratios round by round', () => {
    // A disturbed second round drags both sides down together: paired ratios stay close, the medians too.
    const off = [round(100, 10), round(50, 150), round(110, 10)];
    const on = [round(95, 10), round(49, 150), round(100, 10)];
    const ratio = alternatingRatio('s', off, on);
    expect(ratio?.target).toBe(`${ACL_TARGET}/roost`);
    expect(ratio?.figures).toMatchObject({
      deliveredPerSec: 0.95,
      deliveredPerSecPairedMedian: 0.95,
      deliveredPerSecPairedMin: 0.909,
      deliveredPerSecPairedMax: 0.98,
    });
    expect(ratio?.figures['deliveredPerSecMin']).toBeUndefined();
    expect(ratio?.notes).toEqual({ deliveredPerSecRatioRounds: '0.95 0.98 0.909' });
    expect(alternatingRatio('s', [], [])).toBeUndefined();
  });
});
