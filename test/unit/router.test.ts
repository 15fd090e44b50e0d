import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/core/message.js';
import { Router, type Accepted, type PublisherFlow, type RouteTarget, type RoutedMessage } from '../../src/core/router.js';
import { topicMatches } from '../../src/core/topic.js';

const message = (topic: string, qos: 0 | 1 | 2 = 0): Message => ({ cmd: 'publish', topic, payload: Buffer.from(topic), qos, retain: false });

function recorder(extra: Partial<RouteTarget> = {}): RouteTarget & { got: RoutedMessage[] } {
  const got: RoutedMessage[] = [];
  return {
    got,
    ...extra,
    deliver(m, accepted) {
      got.push(m);
      accepted();
    },
  };
}

function publish(router: Router, m: Message): Promise<Error | null | undefined> {
  return new Promise((resolve) => router.publish(m, resolve));
}

describe('Router', () => {
  it('matches exactly what topicMatches says, over a grid of filters and names', async () => {
    const filters = ['#', '+', 'a', 'a/#', 'a/+', 'a/b', 'a/+/c', '+/b/#', '+/+', '/#', '$SYS/#', '+/x', 'a//c', 'a/+/+'];
    const names = ['a', 'a/b', 'a/b/c', 'a/x/c', 'b/b', 'b/b/c/d', '/x', '$SYS/x', 'a//c', 'x'];
    const router = new Router();
    const targets = new Map(filters.map((f) => [f, recorder()]));
    for (const [f, target] of targets) router.subscribe(f, target);
    for (const name of names) await publish(router, message(name));
    for (const [f, target] of targets) {
      expect(target.got.map((m) => m.topic), f).toEqual(names.filter((n) => topicMatches(f, n)));
    }
  });

  it('gives each message of a shared group to one member, in turn', async () => {
    const router = new Router();
    const a = recorder();
    const b = recorder();
    router.subscribe('$share/g/jobs/+', a);
    router.subscribe('$share/g/jobs/+', b);
    for (let i = 0; i < 6; i++) await publish(router, message(`jobs/${i}`));
    expect(a.got).toHaveLength(3);
    expect(b.got).toHaveLength(3);
    router.unsubscribe('$share/g/jobs/+', a);
    await publish(router, message('jobs/x'));
    expect(b.got).toHaveLength(4);
  });

  it('delivers once per owner, at the highest QoS, with every subscription identifier', async () => {
    const router = new Router();
    const owner = {};
    const low = recorder({ owner, qos: 0, subscriptionId: 1 });
    const high = recorder({ owner, qos: 1, subscriptionId: 2 });
    router.subscribe('a/+', low);
    router.subscribe('a/#', high);
    await publish(router, message('a/b', 1));
    expect(low.got).toHaveLength(0);
    expect(high.got).toHaveLength(1);
    expect([...(high.got[0]?.subscriptionIds ?? [])].sort()).toEqual([1, 2]);
  });

  it('acknowledges the publisher only after durable targets accepted, never waiting for live ones', async () => {
    const router = new Router();
    let release: (() => void) | undefined;
    const durable: RouteTarget = { durable: true, deliver: (_m, accepted) => (release = () => accepted()) };
    const stalled: RouteTarget = { deliver: () => undefined };
    router.subscribe('q', durable);
    router.subscribe('q', stalled);
    let acked = false;
    router.publish(message('q', 1), () => (acked = true));
    expect(acked).toBe(false);
    release?.();
    expect(acked).toBe(true);
  });

  it('drops QoS 0 to a target that stopped accepting, and counts it', async () => {
    const router = new Router({ maxPendingPerTarget: 2 });
    const stalled: RouteTarget & { calls: number } = { calls: 0, deliver: () => void stalled.calls++ };
    router.subscribe('s', stalled);
    for (let i = 0; i < 5; i++) await publish(router, message('s', 0));
    expect(stalled.calls).toBe(2);
    expect(router.stats.droppedSlow).toBe(3);
  });

  it('bounds a target\'s buffer in bytes too, and still hands an empty one a message larger than the bound', () => {
    const router = new Router({ maxPendingPerTarget: 100, maxPendingBytesPerTarget: 1_000, stallTimeoutMs: 60_000 });
    const got: number[] = [];
    const stalled: RouteTarget = { deliver: (m) => void got.push(m.payload.length) };
    router.subscribe('s', stalled);
    const sized = (bytes: number): Message => ({ cmd: 'publish', topic: 's', payload: Buffer.alloc(bytes), qos: 0, retain: false });
    // Not awaited: a publish to a target this far behind is held until it catches up.
    router.publish(sized(5_000), () => undefined);
    router.publish(sized(10), () => undefined);
    expect(got).toEqual([5_000]);
    expect(router.stats.droppedSlow).toBe(1);

    const other = new Router({ maxPendingPerTarget: 100, maxPendingBytesPerTarget: 1_000, stallTimeoutMs: 60_000 });
    const counted: number[] = [];
    other.subscribe('s', { deliver: (m) => void counted.push(m.payload.length) });
    // 99 bytes of payload and a 1-byte topic: ten fit in 1,000 bytes, the eleventh does not.
    for (let i = 0; i < 12; i++) other.publish(sized(99), () => undefined);
    expect(counted).toHaveLength(10);
    expect(other.stats.droppedSlow).toBe(2);
  });

  it('keeps many targets on one filter straight through subscribe, resubscribe and unsubscribe', async () => {
    const router = new Router();
    const targets = Array.from({ length: 100 }, () => recorder());
    for (const t of targets) router.subscribe('a/b', t);
    for (const t of targets) router.subscribe('a/b', t);
    expect(router.size).toBe(100);
    await publish(router, message('a/b'));
    targets.forEach((t, i) => i % 3 === 0 && router.unsubscribe('a/b', t));
    expect(router.size).toBe(66);
    await publish(router, message('a/b'));
    expect(targets.map((t) => t.got.length)).toEqual(targets.map((_, i) => (i % 3 === 0 ? 1 : 2)));
    for (const t of targets) router.unsubscribe('a/b', t);
    expect(router.size).toBe(0);
  });

  it('forgets plain and shared targets on unsubscribe', () => {
    const router = new Router();
    const t = recorder();
    router.subscribe('a/b/c/d', t);
    router.subscribe('$share/g/a/b', t);
    expect(router.size).toBe(2);
    router.unsubscribe('a/b/c/d', t);
    router.unsubscribe('$share/g/a/b', t);
    expect(router.size).toBe(0);
  });
});

/** A live target that keeps every delivery outstanding until `finish(n)`. */
function parked(extra: Partial<RouteTarget> = {}): RouteTarget & { waiting: Accepted[]; finish(n: number): void } {
  const waiting: Accepted[] = [];
  return {
    ...extra,
    waiting,
    deliver(_m, accepted) {
      waiting.push(accepted);
    },
    finish(n) {
      for (const accepted of waiting.splice(0, n)) accepted();
    },
  };
}

function flow(): PublisherFlow & { paused: boolean; pauses: number } {
  const f = {
    paused: false,
    pauses: 0,
    pause() {
      f.paused = true;
      f.pauses++;
    },
    resume() {
      f.paused = false;
    },
  };
  return f;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('Router flow control', () => {
  it('pauses the publishing connection while a live target is past the hold mark, resumes it at half', () => {
    const router = new Router({ maxPendingPerTarget: 100, holdAbovePending: 4, stallTimeoutMs: 60_000 });
    const slow = parked();
    const other = recorder();
    router.subscribe('t', slow);
    router.subscribe('t', other);
    const from = flow();
    let accepted = 0;
    for (let i = 0; i < 6; i++) router.publish(message('t'), () => accepted++, from);
    // Every publish is accepted at once (nothing durable); the connection is what waits.
    expect(accepted).toBe(6);
    expect(from.paused).toBe(true);
    expect(from.pauses).toBe(1);
    expect(other.got).toHaveLength(6);
    slow.finish(3); // 3 outstanding: still above half of 4
    expect(from.paused).toBe(true);
    slow.finish(1); // 2 outstanding: half
    expect(from.paused).toBe(false);
    expect(router.stats.held).toBe(1);
    expect(router.stats.droppedSlow).toBe(0);
  });

  it('keeps a connection paused until every target holding it has drained', () => {
    const router = new Router({ maxPendingPerTarget: 100, holdAbovePending: 2, stallTimeoutMs: 60_000 });
    const a = parked();
    const b = parked();
    router.subscribe('t', a);
    router.subscribe('t', b);
    const from = flow();
    for (let i = 0; i < 2; i++) router.publish(message('t'), () => undefined, from);
    expect(from.paused).toBe(true);
    a.finish(2);
    expect(from.paused).toBe(true);
    b.finish(2);
    expect(from.paused).toBe(false);
  });

  it('never pauses a session for its own subscription', () => {
    const router = new Router({ maxPendingPerTarget: 100, holdAbovePending: 2, stallTimeoutMs: 60_000 });
    const from = flow();
    router.subscribe('t', parked({ owner: from }));
    for (let i = 0; i < 5; i++) router.publish(message('t'), () => undefined, from);
    expect(from.paused).toBe(false);
  });

  it('defers accepted instead when the publish names no connection', () => {
    const router = new Router({ maxPendingPerTarget: 100, holdAbovePending: 2, stallTimeoutMs: 60_000 });
    const slow = parked();
    router.subscribe('t', slow);
    let accepted = 0;
    for (let i = 0; i < 3; i++) router.publish(message('t'), () => accepted++);
    expect(accepted).toBe(1);
    slow.finish(2);
    expect(accepted).toBe(3);
  });

  it('lets publishers go when a target makes no progress, then drops its QoS 0 past the cap without holding anyone', async () => {
    const router = new Router({ maxPendingPerTarget: 5, holdAbovePending: 2, stallTimeoutMs: 40 });
    const frozen = parked();
    const healthy = recorder();
    router.subscribe('t', frozen);
    router.subscribe('t', healthy);
    const from = flow();
    for (let i = 0; i < 3; i++) router.publish(message('t'), () => undefined, from);
    expect(from.paused).toBe(true);
    await sleep(150);
    expect(router.stats.stalled).toBe(1);
    expect(from.paused).toBe(false);
    for (let i = 0; i < 10; i++) router.publish(message('t'), () => undefined, from);
    expect(from.paused).toBe(false);
    expect(healthy.got).toHaveLength(13);
    expect(frozen.waiting).toHaveLength(5);
    expect(router.stats.droppedSlow).toBe(8);
    // Once it has caught up it holds publishers again.
    frozen.finish(5);
    for (let i = 0; i < 3; i++) router.publish(message('t'), () => undefined, from);
    expect(from.paused).toBe(true);
    frozen.finish(3);
    expect(from.paused).toBe(false);
  });

  it('lets a publisher go after maxHoldMs even while the target keeps making progress', async () => {
    const router = new Router({ maxPendingPerTarget: 1_000, holdAbovePending: 10, stallTimeoutMs: 40, maxHoldMs: 120 });
    const slow = parked();
    router.subscribe('t', slow);
    const from = flow();
    for (let i = 0; i < 40; i++) router.publish(message('t'), () => undefined, from);
    expect(from.paused).toBe(true);
    // One delivery every 20 ms: progress, but 700 ms to get down to half the hold mark.
    const trickle = setInterval(() => slow.finish(1), 20);
    const started = Date.now();
    try {
      while (from.paused && Date.now() - started < 2_000) await sleep(5);
      expect(from.paused).toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(100);
      expect(Date.now() - started).toBeLessThan(600);
      expect(router.stats.stalled).toBe(1);
    } finally {
      clearInterval(trickle);
    }
  });

  it('resumes a paused connection when the target holding it unsubscribes', () => {
    const router = new Router({ maxPendingPerTarget: 100, holdAbovePending: 2, stallTimeoutMs: 60_000 });
    const slow = parked();
    router.subscribe('t', slow);
    const from = flow();
    for (let i = 0; i < 2; i++) router.publish(message('t'), () => undefined, from);
    expect(from.paused).toBe(true);
    router.unsubscribe('t', slow);
    expect(from.paused).toBe(false);
  });
});
