import { describe, expect, it } from 'vitest';
import { LoginGuard, MAX_TRACKED_PAIRS, type GuardedCheck } from '../../src/auth/login-guard.js';

/** A password check that stays pending until the test settles it. */
function pending(): { check: () => Promise<boolean>; started: () => boolean; settle: (accepted: boolean) => void } {
  let resolve: ((accepted: boolean) => void) | undefined;
  let started = false;
  return {
    check: () => {
      started = true;
      return new Promise<boolean>((r) => (resolve = r));
    },
    started: () => started,
    settle: (accepted) => resolve?.(accepted),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('LoginGuard: concurrent password checks', () => {
  it('runs at most maxConcurrentPasswordChecks at once, queues the next ones in order, and refuses past the queue as busy', async () => {
    const guard = new LoginGuard({ maxConcurrentPasswordChecks: 2, maxQueuedPasswordChecks: 2 });
    const checks = Array.from({ length: 5 }, () => pending());
    const outcomes = checks.map((c, i) => guard.check('10.0.0.1', `u${i}`, c.check));
    await tick();
    expect(checks.map((c) => c.started())).toEqual([true, true, false, false, false]);
    expect([guard.running, guard.queued]).toEqual([2, 2]);
    expect(await outcomes[4]).toBe('busy');

    checks[0]?.settle(true);
    await tick();
    expect(checks.map((c) => c.started())).toEqual([true, true, true, false, false]);
    checks[1]?.settle(false);
    await tick();
    expect(checks[3]?.started()).toBe(true);
    checks[2]?.settle(false);
    checks[3]?.settle(true);
    expect(await Promise.all(outcomes.slice(0, 4))).toEqual<GuardedCheck[]>(['accepted', 'rejected', 'rejected', 'accepted']);
    expect([guard.running, guard.queued]).toEqual([0, 0]);
  });

  it('frees the slot of a check that throws', async () => {
    const guard = new LoginGuard({ maxConcurrentPasswordChecks: 1, maxQueuedPasswordChecks: 0 });
    await expect(guard.check('a', 'u', () => Promise.reject(new Error('scrypt failed')))).rejects.toThrow('scrypt failed');
    expect(await guard.check('a', 'u', () => Promise.resolve(true))).toBe('accepted');
  });
});

describe('LoginGuard: back-off after failed logins', () => {
  const limits = { maxLoginFailures: 3, loginFailureWindowMs: 10_000, loginBackoffMs: 60_000 };

  it('refuses a user name from one address after maxLoginFailures within the window, without checking its password', async () => {
    let now = 0;
    const guard = new LoginGuard(limits, { now: () => now });
    let checked = 0;
    const wrong = (): Promise<boolean> => Promise.resolve((checked++, false));
    const right = (): Promise<boolean> => Promise.resolve((checked++, true));
    for (let i = 0; i < 3; i++) expect(await guard.check('10.0.0.1', 'bob', wrong)).toBe('rejected');
    expect(await guard.check('10.0.0.1', 'bob', right)).toBe('throttled');
    expect(checked).toBe(3);
    // Other user names from that address, and that user name from elsewhere, are not affected.
    expect(await guard.check('10.0.0.1', 'alice', right)).toBe('accepted');
    expect(await guard.check('10.0.0.2', 'bob', right)).toBe('accepted');
    now = 59_999;
    expect(await guard.check('10.0.0.1', 'bob', right)).toBe('throttled');
    now = 60_000;
    expect(await guard.check('10.0.0.1', 'bob', right)).toBe('accepted');
  });

  it('counts only the failures inside the window, and forgets them on a success', async () => {
    let now = 0;
    const guard = new LoginGuard(limits, { now: () => now });
    const wrong = (): Promise<boolean> => Promise.resolve(false);
    await guard.check('a', 'bob', wrong);
    await guard.check('a', 'bob', wrong);
    now = 10_000; // the first two have left the window
    await guard.check('a', 'bob', wrong);
    await guard.check('a', 'bob', wrong);
    expect(await guard.check('a', 'bob', () => Promise.resolve(true))).toBe('accepted');
    await guard.check('a', 'bob', wrong);
    await guard.check('a', 'bob', wrong);
    expect(await guard.check('a', 'bob', () => Promise.resolve(true))).toBe('accepted');
  });

  it('refuses checks that queued behind the failures that started a back-off', async () => {
    const guard = new LoginGuard({ ...limits, maxConcurrentPasswordChecks: 1 }, { now: () => 0 });
    let checked = 0;
    const outcomes = Array.from({ length: 6 }, () => guard.check('a', 'bob', () => Promise.resolve((checked++, false))));
    expect(await Promise.all(outcomes)).toEqual(['rejected', 'rejected', 'rejected', 'throttled', 'throttled', 'throttled']);
    expect(checked).toBe(3);
  });

  it('has no back-off without an address, or with maxLoginFailures 0', async () => {
    const guard = new LoginGuard(limits);
    const off = new LoginGuard({ ...limits, maxLoginFailures: 0 });
    for (let i = 0; i < 10; i++) {
      expect(await guard.check(undefined, 'bob', () => Promise.resolve(false))).toBe('rejected');
      expect(await off.check('a', 'bob', () => Promise.resolve(false))).toBe('rejected');
    }
    expect(guard.trackedPairs).toBe(0);
  });

  it('remembers a bounded number of pairs, forgetting the one that failed longest ago', async () => {
    const guard = new LoginGuard({ ...limits, maxLoginFailures: 2 }, { now: () => 0 });
    const wrong = (): Promise<boolean> => Promise.resolve(false);
    await guard.check('a', 'first', wrong);
    await guard.check('a', 'kept', wrong);
    for (let i = 0; i < MAX_TRACKED_PAIRS - 1; i++) await guard.check('b', `u${i}`, wrong);
    expect(guard.trackedPairs).toBe(MAX_TRACKED_PAIRS);
    await guard.check('a', 'kept', wrong); // a second failure: backed off, and now the most recent
    expect(guard.trackedPairs).toBe(MAX_TRACKED_PAIRS);
    await guard.check('a', 'first', wrong); // forgotten earlier, so this is its first failure again
    expect(await guard.check('a', 'first', () => Promise.resolve(true))).toBe('accepted');
    expect(await guard.check('a', 'kept', () => Promise.resolve(true))).toBe('throttled');
  });
});
