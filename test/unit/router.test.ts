import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/core/message.js';
import { Router, type RouteTarget, type RoutedMessage } from '../../src/core/router.js';
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
