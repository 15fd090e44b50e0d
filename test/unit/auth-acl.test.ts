import { describe, expect, it } from 'vitest';
import { Acl, ACL_ACTIONS, type AclSubject } from '../../src/auth/acl.js';
import { filterCovers, filtersOverlap } from '../../src/auth/topic-cover.js';
import type { AclRuleConfig } from '../../src/config/types.js';

const alice: AclSubject = { username: 'alice', clientId: 'alice-laptop', groups: ['ops'] };
const dev17: AclSubject = { username: 'dev17', clientId: 'd17', groups: ['devices'] };
const anon: AclSubject = { username: undefined, clientId: 'anon-1', groups: [] };

describe('filterCovers', () => {
  it.each([
    ['sensors/#', 'sensors/+/temp', true],
    ['sensors/#', 'sensors', true],
    ['sensors/#', 'sensors/#', true],
    ['sensors/+/temp', 'sensors/a/temp', true],
    ['sensors/+/temp', 'sensors/+/temp', true],
    ['#', '#', true],
    ['#', 'a/+/b/#', true],
    ['+/+', 'a/+', true],
    ['a/b', 'a/b', true],
    // A wildcard in the filter is only covered by a wildcard in the pattern.
    ['sensors/a/temp', 'sensors/+/temp', false],
    ['sensors/+', 'sensors/#', false],
    ['sensors/+/temp', 'sensors/#', false],
    ['sensors/+', 'sensors', false],
    ['sensors', 'sensors/#', false],
    ['a/+/#', 'a/#', false],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    // [MQTT-4.7.2-1] a first-level wildcard leaves out $ topics.
    ['#', '$SYS/#', false],
    ['+/broker', '$SYS/broker', false],
    ['$SYS/#', '$SYS/broker/+', true],
  ])('%s covers %s: %s', (pattern, filter, expected) => {
    expect(filterCovers(pattern, filter)).toBe(expected);
  });
});

describe('filtersOverlap', () => {
  it.each([
    ['secrets/#', '#', true],
    ['secrets/#', '+/passwords', true],
    ['secrets/#', 'secrets', true],
    ['a/+/c', 'a/b/+', true],
    ['a/b', 'a/b', true],
    ['secrets/#', 'public/#', false],
    ['a/+', 'a/b/c', false],
    ['a/b', 'a/c', false],
    ['#', '$SYS/x', false],
    ['$SYS/#', '+/x', false],
    ['$SYS/#', '$SYS/+', true],
  ])('%s overlaps %s: %s', (a, b, expected) => {
    expect(filtersOverlap(a, b)).toBe(expected);
    expect(filtersOverlap(b, a)).toBe(expected);
  });
});

describe('without an ACL', () => {
  const acl = Acl.compile([]);

  it('allows everything, anonymous or not', () => {
    expect(acl.configured).toBe(false);
    for (const subject of [alice, anon]) {
      expect(acl.decide(subject, 'publish', 'any/topic')).toBe(true);
      expect(acl.decide(subject, 'subscribe', '#')).toBe(true);
      expect(acl.decide(subject, 'subscribe', '$SYS/#')).toBe(true);
      expect(acl.decide(subject, 'produce', 'orders')).toBe(true);
      expect(acl.decide(subject, 'consume', 'orders')).toBe(true);
    }
  });

  it('keeps $SYS read-only', () => {
    expect(acl.decide(alice, 'publish', '$SYS/broker/uptime')).toBe(false);
    expect(acl.decide(alice, 'publish', '$SYS')).toBe(false);
    expect(acl.decide(alice, 'publish', '$SYSTEM/x')).toBe(true);
  });
});

describe('with an ACL', () => {
  const rules: AclRuleConfig[] = [
    { deny: { subscribe: ['secrets/#'], publish: ['secrets/#'] }, groups: ['devices'] },
    { allow: { publish: ['devices/%c/telemetry/#'], subscribe: ['devices/%c/commands/#', 'sensors/#'] }, groups: ['devices'] },
    { allow: { publish: ['users/%u/#'], subscribe: ['users/%u/#'] } },
    { allow: { publish: ['#', '$SYS/#'], subscribe: ['#', '$SYS/#'], produce: ['*'], consume: ['*'] }, users: ['alice'] },
    { allow: { subscribe: ['public/#'], consume: ['public.*'] }, anonymous: true },
    { allow: { produce: ['orders.*', 'inbox.%u'], consume: ['orders.%u.*'] }, anonymous: false },
  ];
  const acl = Acl.compile(rules);

  it('denies what no rule allows', () => {
    expect(acl.configured).toBe(true);
    expect(acl.decide(dev17, 'publish', 'other/topic')).toBe(false);
    expect(acl.decide(dev17, 'subscribe', '#')).toBe(false);
    expect(acl.decide(anon, 'publish', 'public/x')).toBe(false);
    expect(acl.decide(dev17, 'consume', 'audit')).toBe(false);
  });

  it('selects rules by user, group and anonymity', () => {
    expect(acl.decide(alice, 'subscribe', '#')).toBe(true);
    expect(acl.decide(dev17, 'subscribe', 'sensors/+/temp')).toBe(true);
    expect(acl.decide({ ...dev17, groups: [] }, 'subscribe', 'sensors/+/temp')).toBe(false);
    expect(acl.decide(anon, 'subscribe', 'public/news')).toBe(true);
    expect(acl.decide(alice, 'consume', 'public.news')).toBe(true); // alice's own rule
    expect(acl.decide(dev17, 'consume', 'public.news')).toBe(false); // anonymous: true is for anonymous clients only
    expect(acl.decide(anon, 'produce', 'orders.eu')).toBe(false); // anonymous: false is for authenticated clients only
    expect(acl.decide(dev17, 'produce', 'orders.eu')).toBe(true);
  });

  it('substitutes %u and %c per client', () => {
    expect(acl.decide(dev17, 'publish', 'devices/d17/telemetry/temp')).toBe(true);
    expect(acl.decide(dev17, 'publish', 'devices/d18/telemetry/temp')).toBe(false);
    expect(acl.decide(dev17, 'subscribe', 'devices/d17/commands/#')).toBe(true);
    expect(acl.decide(dev17, 'subscribe', 'devices/+/commands/#')).toBe(false);
    expect(acl.decide(dev17, 'publish', 'users/dev17/status')).toBe(true);
    expect(acl.decide(dev17, 'publish', 'users/alice/status')).toBe(false);
    expect(acl.decide(dev17, 'produce', 'inbox.dev17')).toBe(true);
    expect(acl.decide(dev17, 'produce', 'inbox.alice')).toBe(false);
    expect(acl.decide(dev17, 'consume', 'orders.dev17.eu')).toBe(true);
    expect(acl.decide(dev17, 'consume', 'orders.alice.eu')).toBe(false);
  });

  it('never lets a client id or user name widen a pattern', () => {
    for (const clientId of ['+', '#', 'd17/commands', '']) {
      const sneaky = { ...dev17, clientId };
      expect(acl.decide(sneaky, 'publish', 'devices/d17/telemetry/x'), clientId).toBe(false);
      expect(acl.decide(sneaky, 'subscribe', 'devices/+/commands/x'), clientId).toBe(false);
    }
    // %u of an anonymous client matches nothing.
    expect(acl.decide(anon, 'publish', 'users//x')).toBe(false);
    // A * in a substituted value is literal, not a wildcard.
    expect(acl.decide({ ...dev17, username: 'dev*' }, 'produce', 'inbox.devXYZ')).toBe(false);
    expect(acl.decide({ ...dev17, username: 'dev*' }, 'produce', 'inbox.dev*')).toBe(true);
  });

  it('allows a subscription only when an allowed pattern covers the whole filter', () => {
    expect(acl.decide(dev17, 'subscribe', 'sensors/#')).toBe(true);
    expect(acl.decide(dev17, 'subscribe', 'sensors')).toBe(true);
    expect(acl.decide(dev17, 'subscribe', '+/temp')).toBe(false);
    expect(acl.decide(anon, 'subscribe', 'public/+/x')).toBe(true);
    expect(acl.decide(anon, 'subscribe', '+/news')).toBe(false);
  });

  it('checks the filter inside a shared subscription', () => {
    expect(acl.decide(dev17, 'subscribe', '$share/workers/sensors/#')).toBe(true);
    expect(acl.decide(dev17, 'subscribe', '$share/workers/other/#')).toBe(false);
    expect(acl.decide(dev17, 'subscribe', '$share/broken')).toBe(false);
  });

  it('keeps $SYS read-only even for a rule that allows publishing there', () => {
    expect(acl.decide(alice, 'subscribe', '$SYS/#')).toBe(true);
    expect(acl.decide(alice, 'publish', '$SYS/broker/x')).toBe(false);
    expect(acl.decide(alice, 'publish', 'anything/else')).toBe(true);
  });

  it('needs $SYS named explicitly: # does not cover it', () => {
    const only = Acl.compile([{ allow: { subscribe: ['#'] } }]);
    expect(only.decide(alice, 'subscribe', '#')).toBe(true);
    expect(only.decide(alice, 'subscribe', '$SYS/#')).toBe(false);
  });
});

describe('rule order: the first rule that names the resource decides', () => {
  it('lets an earlier deny win over a later allow, and an earlier allow over a later deny', () => {
    const denyFirst = Acl.compile([{ deny: { publish: ['a/secret'] } }, { allow: { publish: ['a/#'] } }]);
    expect(denyFirst.decide(alice, 'publish', 'a/secret')).toBe(false);
    expect(denyFirst.decide(alice, 'publish', 'a/public')).toBe(true);
    const allowFirst = Acl.compile([{ allow: { publish: ['a/#'] } }, { deny: { publish: ['a/secret'] } }]);
    expect(allowFirst.decide(alice, 'publish', 'a/secret')).toBe(true);
  });

  it('skips a rule that does not apply to the client or does not name the resource', () => {
    const acl = Acl.compile([
      { deny: { publish: ['x/#'] }, users: ['bob'] },
      { deny: { subscribe: ['x/#'] } },
      { allow: { publish: ['x/#'] } },
    ]);
    expect(acl.decide(alice, 'publish', 'x/1')).toBe(true);
    expect(acl.decide({ ...alice, username: 'bob' }, 'publish', 'x/1')).toBe(false);
  });

  it('denies a subscription a deny pattern overlaps, even when a later rule would cover it', () => {
    const acl = Acl.compile([{ deny: { subscribe: ['secrets/#'] } }, { allow: { subscribe: ['#'] } }]);
    expect(acl.decide(alice, 'subscribe', '#')).toBe(false);
    expect(acl.decide(alice, 'subscribe', '+/passwords')).toBe(false);
    expect(acl.decide(alice, 'subscribe', 'public/#')).toBe(true);
  });

  it('does not let partial allows add up to a wider filter', () => {
    const acl = Acl.compile([{ allow: { subscribe: ['a/b/#'] } }, { allow: { subscribe: ['a/c/#'] } }]);
    expect(acl.decide(alice, 'subscribe', 'a/+/x')).toBe(false);
    expect(acl.decide(alice, 'subscribe', 'a/c/x')).toBe(true);
  });
});

describe('queue patterns', () => {
  it('match whole names, * standing for any run of characters', () => {
    const acl = Acl.compile([{ allow: { produce: ['orders', 'DLQ.*', '*.eu', 'a*b*c'] } }]);
    const yes = ['orders', 'DLQ.orders', 'DLQ.', 'shop.eu', 'abc', 'a-b-c', 'abbc'];
    const no = ['orders2', 'xorders', 'dlq.orders', 'shop.eu.x', 'ab', 'acb'];
    for (const name of yes) expect(acl.decide(alice, 'produce', name), name).toBe(true);
    for (const name of no) expect(acl.decide(alice, 'produce', name), name).toBe(false);
  });
});

describe('Acl.compile', () => {
  it('refuses rules the config schema would refuse, naming the rule', () => {
    const bad: [AclRuleConfig, RegExp][] = [
      [{ users: ['a'] }, /auth\.acl\.0: a rule has exactly one of allow and deny/],
      [{ allow: { publish: ['a'] }, deny: { publish: ['b'] } }, /exactly one/],
      [{ allow: { publish: ['a/#/b'] } }, /auth\.acl\.0: allow\.publish\.0: "a\/#\/b" is not a topic filter/],
      [{ deny: { subscribe: ['$share/g/a'] } }, /shared subscription/],
      [{ allow: { consume: [''] } }, /queue pattern/],
      [{ allow: { publish: ['a'] }, anonymous: true, users: ['x'] }, /anonymous: true cannot be combined/],
    ];
    for (const [rule, message] of bad) {
      expect(() => Acl.compile([rule])).toThrow(expect.objectContaining({ code: 'AUTH_ACL_INVALID', message: expect.stringMatching(message) }));
    }
  });
});

describe('the worked example of docs/auth.md', () => {
  const acl = Acl.compile([
    { deny: { subscribe: ['ops/#'] }, groups: ['devices'] },
    { allow: { publish: ['devices/%c/telemetry/#'], subscribe: ['devices/%c/commands/#'] }, groups: ['devices'] },
    { allow: { publish: ['#'], subscribe: ['#', '$SYS/#'], produce: ['*'], consume: ['*'] }, users: ['alice'] },
    { allow: { subscribe: ['public/#'] } },
  ]);
  const sensor: AclSubject = { username: 'sensor-17', clientId: 's17', groups: ['devices'] };

  it('answers as the table says', () => {
    expect(acl.decide(sensor, 'publish', 'devices/s17/telemetry/temp')).toBe(true);
    expect(acl.decide(sensor, 'publish', 'devices/s18/telemetry/temp')).toBe(false);
    expect(acl.decide(sensor, 'subscribe', 'devices/s17/commands/#')).toBe(true);
    expect(acl.decide(sensor, 'subscribe', '#')).toBe(false);
    expect(acl.decide(sensor, 'subscribe', 'public/+')).toBe(true);
    expect(acl.decide(sensor, 'publish', '$SYS/broker/uptime')).toBe(false);
    expect(acl.decide(anon, 'subscribe', 'public/#')).toBe(true);
    expect(acl.decide(anon, 'subscribe', 'devices/#')).toBe(false);
    expect(acl.decide(anon, 'publish', 'public/x')).toBe(false);
    expect(acl.decide(alice, 'subscribe', '$SYS/#')).toBe(true);
    expect(acl.decide(alice, 'publish', '$SYS/x')).toBe(false);
    expect(acl.decide(alice, 'consume', 'telemetry')).toBe(true);
  });
});

describe('substitution inside a level', () => {
  const acl = Acl.compile([
    { allow: { publish: ['site/dev-%c/x', 'home/%u-%c/#', '100%/free'], subscribe: ['inbox/%u/%c'], produce: ['q.%u.*.%c'] } },
  ]);

  it('fills %u and %c where they stand, beside literal text', () => {
    expect(acl.decide(dev17, 'publish', 'site/dev-d17/x')).toBe(true);
    expect(acl.decide(dev17, 'publish', 'site/d17/x')).toBe(false);
    expect(acl.decide(dev17, 'publish', 'home/dev17-d17/a/b')).toBe(true);
    expect(acl.decide(dev17, 'publish', 'home/dev17-d18/a')).toBe(false);
    expect(acl.decide(dev17, 'subscribe', 'inbox/dev17/d17')).toBe(true);
    expect(acl.decide(dev17, 'subscribe', 'inbox/dev17/+')).toBe(false);
    expect(acl.decide(dev17, 'produce', 'q.dev17.any.thing.d17')).toBe(true);
    expect(acl.decide(dev17, 'produce', 'q.alice.any.d17')).toBe(false);
  });

  it('leaves a % that is not %u or %c as it is', () => {
    expect(acl.decide(anon, 'publish', '100%/free')).toBe(true);
  });

  it('skips only the pattern whose placeholder cannot be filled', () => {
    // Anonymous: no %u, but the rule's other patterns still apply.
    expect(acl.decide(anon, 'publish', 'home/-anon-1/x')).toBe(false);
    expect(acl.decide(anon, 'publish', 'site/dev-anon-1/x')).toBe(true);
  });
});

describe('one subject, one bind, four separate actions', () => {
  it('keeps each action to its own patterns', () => {
    const bound = Acl.compile([
      { deny: { subscribe: ['a/#'] } },
      { allow: { publish: ['a/#'], produce: ['jobs'] } },
      { allow: { consume: ['jobs'] }, users: ['alice'] },
    ]).bind(dev17);
    expect(bound.configured).toBe(true);
    expect(bound.publish('a/b')).toBe(true);
    expect(bound.subscribe('a/b')).toBe(false);
    expect(bound.produce('jobs')).toBe(true);
    expect(bound.consume('jobs')).toBe(false);
    expect(bound.decide('consume', 'jobs')).toBe(false);
  });

  it('denies by default once configured, even with no rule for the subject', () => {
    const bound = Acl.compile([{ allow: { publish: ['#'] }, users: ['alice'] }]).bind(dev17);
    expect(bound.configured).toBe(true);
    for (const action of ACL_ACTIONS) expect(bound.decide(action, 'x'), action).toBe(false);
  });
});
