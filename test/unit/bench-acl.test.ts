import { describe, expect, it } from 'vitest';
import { ACL_TARGET, aclRatio, BENCH_ACL, PROBE_FILTER, rulesForAnonymous } from '../../bench/scenarios/acl.js';
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
