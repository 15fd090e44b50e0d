import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Authorizer, createAuthorizer, type AuthSession } from '../../src/auth/authorizer.js';
import { DecisionCache } from '../../src/auth/decision-cache.js';
import { hashPassword } from '../../src/auth/password.js';
import { UserDirectory } from '../../src/auth/user-directory.js';
import { setUser } from '../../src/auth/users.js';
import { configDefaults } from '../../src/config/schema.js';
import type { AclRuleConfig } from '../../src/config/types.js';

const FAST = { cost: 1024, blockSize: 8, parallelization: 1 };
const ALICE = { name: 'alice', passwordHash: await hashPassword('wonderland', FAST), groups: ['ops'] };
const BOB = { name: 'bob', passwordHash: await hashPassword('builder', FAST), groups: [] };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'roost-authz-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function session(authorizer: Authorizer, username: string, password: string, clientId = `${username}-1`): Promise<AuthSession> {
  const result = await authorizer.authenticate({ username, password, clientId, protocol: 'mqtt' });
  if (!result.ok) throw new Error(`authentication failed: ${result.reason}`);
  return result.user;
}

describe('authenticate', () => {
  const users = UserDirectory.of([ALICE, BOB]);

  it('lets a user in with the right password, as who they are, with their groups', async () => {
    const authorizer = new Authorizer({ users });
    const result = await authorizer.authenticate({ username: 'alice', password: Buffer.from('wonderland'), clientId: 'c1', protocol: 'mqtt' });
    expect(result).toEqual({
      ok: true,
      user: { username: 'alice', groups: ['ops'], clientId: 'c1', protocol: 'mqtt', anonymous: false, method: 'password' },
    });
    expect(result.ok && Object.isFrozen(result.user)).toBe(true);
    expect((await authorizer.authenticate({ username: 'bob', password: 'builder', clientId: 'c2', protocol: 'stomp' })).ok).toBe(true);
  });

  it('answers bad-credentials for a wrong password, an unknown user, or a missing password', async () => {
    const authorizer = new Authorizer({ users, allowAnonymous: true });
    const attempts = [
      { username: 'alice', password: 'Wonderland' },
      { username: 'alice', password: '' },
      { username: 'mallory', password: 'wonderland' },
      { username: 'alice' },
      // MQTT 5 permits a password without a user name; there is nobody to check it against.
      { password: 'wonderland' },
    ];
    for (const attempt of attempts) {
      expect(await authorizer.authenticate({ ...attempt, clientId: 'c', protocol: 'mqtt' }), JSON.stringify(attempt)).toEqual({
        ok: false,
        reason: 'bad-credentials',
      });
    }
  });

  it('answers throttled after repeated failures of one user name from one address, and busy when the check queue is full', async () => {
    const authorizer = new Authorizer({ users, login: { maxLoginFailures: 2, maxConcurrentPasswordChecks: 1, maxQueuedPasswordChecks: 1 } });
    const from = (username: string, password: string, remoteAddress = '10.1.1.1') =>
      authorizer.authenticate({ username, password, clientId: 'c', protocol: 'mqtt', remoteAddress });
    expect(await from('bob', 'nope')).toEqual({ ok: false, reason: 'bad-credentials' });
    expect(await from('bob', 'nope')).toEqual({ ok: false, reason: 'bad-credentials' });
    expect(await from('bob', 'builder')).toEqual({ ok: false, reason: 'throttled' });
    expect((await from('bob', 'builder', '10.1.1.2')).ok).toBe(true);
    expect((await from('alice', 'wonderland')).ok).toBe(true);
    const flood = await Promise.all(['u1', 'u2', 'u3'].map((name) => from(name, 'x')));
    expect(flood.map((result) => !result.ok && result.reason)).toEqual(['bad-credentials', 'bad-credentials', 'busy']);
  });

  it('follows the anonymous policy for a client without credentials', async () => {
    const closed = new Authorizer({ users, allowAnonymous: false });
    expect(await closed.authenticate({ clientId: 'c', protocol: 'mqtt' })).toEqual({ ok: false, reason: 'not-authorized' });
    expect(await closed.authenticate({ username: '', clientId: 'c', protocol: 'mqtt' })).toEqual({ ok: false, reason: 'not-authorized' });
    const open = new Authorizer({ users, allowAnonymous: true });
    expect(await open.authenticate({ clientId: 'c', protocol: 'stomp' })).toEqual({
      ok: true,
      user: { username: undefined, groups: [], clientId: 'c', protocol: 'stomp', anonymous: true, method: 'anonymous' },
    });
    // Credentials are still checked when anonymous clients are allowed.
    expect((await open.authenticate({ username: 'alice', password: 'x', clientId: 'c', protocol: 'mqtt' })).ok).toBe(false);
  });

  it('takes the certificate CN as the user name when configured, and only then', async () => {
    const withCn = new Authorizer({ users, useCertificateCnAsUsername: true });
    const result = await withCn.authenticate({ certificateCn: 'alice', clientId: 'c', protocol: 'mqtt' });
    expect(result.ok && result.user).toMatchObject({ username: 'alice', groups: ['ops'], method: 'certificate' });
    const unknown = await withCn.authenticate({ certificateCn: 'sensor-9', clientId: 'c', protocol: 'mqtt' });
    expect(unknown.ok && unknown.user).toMatchObject({ username: 'sensor-9', groups: [], method: 'certificate' });
    const without = new Authorizer({ users });
    expect(await without.authenticate({ certificateCn: 'alice', clientId: 'c', protocol: 'mqtt' })).toEqual({ ok: false, reason: 'not-authorized' });
  });
});

describe('decisions', () => {
  const acl: AclRuleConfig[] = [
    { allow: { publish: ['ops/#'], subscribe: ['ops/#'], produce: ['jobs'], consume: ['jobs'] }, groups: ['ops'] },
    { allow: { publish: ['clients/%c/#'], subscribe: ['public/#'] } },
  ];

  it('answers the four checks from the ACL, per session', async () => {
    const authorizer = new Authorizer({ users: UserDirectory.of([ALICE, BOB]), acl });
    expect(authorizer.aclConfigured).toBe(true);
    const alice = await session(authorizer, 'alice', 'wonderland');
    const bob = await session(authorizer, 'bob', 'builder', 'bob-phone');
    expect(authorizer.canPublish(alice, 'ops/deploy')).toBe(true);
    expect(authorizer.canPublish(bob, 'ops/deploy')).toBe(false);
    expect(authorizer.canPublish(bob, 'clients/bob-phone/status')).toBe(true);
    expect(authorizer.canSubscribe(bob, 'public/+')).toBe(true);
    expect(authorizer.canSubscribe(bob, '#')).toBe(false);
    expect(authorizer.canProduce(alice, 'jobs')).toBe(true);
    expect(authorizer.canConsume(bob, 'jobs')).toBe(false);
    // Cached answers stay right on a second ask, and differ per action.
    expect(authorizer.canPublish(bob, 'ops/deploy')).toBe(false);
    expect(authorizer.canSubscribe(alice, 'ops/deploy')).toBe(true);
  });

  it('keeps the cached answers of each action apart for the same string', async () => {
    const authorizer = new Authorizer({
      users: UserDirectory.of([BOB]),
      acl: [{ allow: { publish: ['jobs'], consume: ['jobs'] } }, { allow: { subscribe: ['x/#'], produce: ['x/#'] } }],
    });
    const bob = await session(authorizer, 'bob', 'builder');
    for (let ask = 0; ask < 2; ask++) {
      expect(authorizer.canPublish(bob, 'jobs')).toBe(true);
      expect(authorizer.canSubscribe(bob, 'jobs')).toBe(false);
      expect(authorizer.canProduce(bob, 'jobs')).toBe(false);
      expect(authorizer.canConsume(bob, 'jobs')).toBe(true);
      // A queue pattern is literal text: 'x/#' is a queue named 'x/#', not a topic filter.
      expect(authorizer.canProduce(bob, 'x/#')).toBe(true);
      expect(authorizer.canPublish(bob, 'x/#')).toBe(false);
    }
  });

  it('answers right from a full cache, for a session asking about many topics', async () => {
    const authorizer = new Authorizer({ users: UserDirectory.of([BOB]), acl, decisionCacheSize: 8 });
    const bob = await session(authorizer, 'bob', 'builder', 'b1');
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) {
        expect(authorizer.canPublish(bob, `clients/b1/${i}`)).toBe(true);
        expect(authorizer.canPublish(bob, `clients/b2/${i}`)).toBe(false);
      }
    }
  });

  it('allows everything but publishing to $SYS without an ACL', async () => {
    const authorizer = new Authorizer({ allowAnonymous: true });
    const result = await authorizer.authenticate({ clientId: 'c', protocol: 'mqtt' });
    if (!result.ok) throw new Error('expected anonymous access');
    expect(authorizer.aclConfigured).toBe(false);
    expect(authorizer.canPublish(result.user, 'a/b')).toBe(true);
    expect(authorizer.canSubscribe(result.user, '$SYS/#')).toBe(true);
    expect(authorizer.canPublish(result.user, '$SYS/broker/clients')).toBe(false);
  });

  it('drops cached decisions when the ACL changes', async () => {
    const authorizer = new Authorizer({ users: UserDirectory.of([BOB]), acl });
    const bob = await session(authorizer, 'bob', 'builder');
    expect(authorizer.canPublish(bob, 'news/today')).toBe(false);
    authorizer.reconfigure({ acl: [...acl, { allow: { publish: ['news/#'] } }] });
    expect(authorizer.canPublish(bob, 'news/today')).toBe(true);
    // A bad ACL leaves the current one in place.
    expect(() => authorizer.reconfigure({ acl: [{ users: ['x'] }] })).toThrow(expect.objectContaining({ code: 'AUTH_ACL_INVALID' }));
    expect(authorizer.canPublish(bob, 'news/today')).toBe(true);
    authorizer.reconfigure({ acl: [] });
    expect(authorizer.canPublish(bob, 'anything')).toBe(true);
  });

  it('drops cached decisions when the users file is reloaded: new groups apply, a deleted user is revoked', async () => {
    const file = join(dir, 'users.yaml');
    writeFileSync(file, setUser(setUser('', file, 'bob', BOB.passwordHash), file, 'alice', ALICE.passwordHash, ['ops']));
    const users = await UserDirectory.open(file, { watch: false });
    await using authorizer = new Authorizer({ users, ownsUsers: true, acl });
    const bob = await session(authorizer, 'bob', 'builder');
    const alice = await session(authorizer, 'alice', 'wonderland');
    expect(authorizer.canPublish(bob, 'ops/deploy')).toBe(false);
    expect(authorizer.canPublish(alice, 'ops/deploy')).toBe(true);

    writeFileSync(file, setUser(setUser('', file, 'bob', BOB.passwordHash, ['ops']), file, 'carol', ALICE.passwordHash));
    expect(await authorizer.reload()).toEqual({ status: 'reloaded', users: 2 });
    expect(authorizer.canPublish(bob, 'ops/deploy')).toBe(true);
    expect(authorizer.isRevoked(bob)).toBe(false);
    expect(authorizer.isRevoked(alice)).toBe(true);
    expect(authorizer.canPublish(alice, 'ops/deploy')).toBe(false);
    expect(authorizer.canSubscribe(alice, 'public/x')).toBe(false);
    // The session object still says how it logged in; decisions use the current groups.
    expect(bob.groups).toEqual([]);
  });

  it('keeps the users it has when the reloaded file is bad', async () => {
    const file = join(dir, 'users.yaml');
    writeFileSync(file, setUser('', file, 'bob', BOB.passwordHash));
    const lines: string[] = [];
    const log = { info: () => undefined, warn: (_fields: object, message: string) => lines.push(message) };
    const users = await UserDirectory.open(file, { watch: false, log });
    await using authorizer = new Authorizer({ users, ownsUsers: true });
    writeFileSync(file, 'users:\n  bob:\n    password: nope\n');
    const outcome = await authorizer.reload();
    expect(outcome.status).toBe('failed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^users file not reloaded, keeping the 1 user loaded before: .*users\.yaml:2: user "bob": password is not a usable hash/);
    expect((await authorizer.authenticate({ username: 'bob', password: 'builder', clientId: 'c', protocol: 'mqtt' })).ok).toBe(true);
    expect(users.generation).toBe(0);
    expect(await authorizer.reload()).toMatchObject({ status: 'failed' });
    writeFileSync(file, setUser('', file, 'bob', BOB.passwordHash));
    // Back to what was loaded at start: nothing changed, no generation bump.
    expect(await authorizer.reload()).toEqual({ status: 'unchanged', users: 1 });
    expect(users.generation).toBe(0);
  });
});

describe('createAuthorizer', () => {
  it('builds from the auth config section, with and without a users file', async () => {
    const auth = configDefaults().auth;
    await using open = await createAuthorizer(auth);
    expect((await open.authenticate({ clientId: 'c', protocol: 'mqtt' })).ok).toBe(true);
    expect(open.users.file).toBeUndefined();

    const file = join(dir, 'users.yaml');
    writeFileSync(file, setUser('', file, 'bob', BOB.passwordHash));
    await using closed = await createAuthorizer({ ...auth, usersFile: file, allowAnonymous: false }, { watch: false });
    expect(await closed.authenticate({ clientId: 'c', protocol: 'mqtt' })).toEqual({ ok: false, reason: 'not-authorized' });
    expect((await closed.authenticate({ username: 'bob', password: 'builder', clientId: 'c', protocol: 'mqtt' })).ok).toBe(true);
    await expect(createAuthorizer({ ...auth, usersFile: join(dir, 'missing.yaml') })).rejects.toMatchObject({ code: 'AUTH_USERS_UNREADABLE' });
  });
});

describe('DecisionCache', () => {
  it('keeps at most its capacity, dropping the least recently used', () => {
    const cache = new DecisionCache(2);
    cache.set('a', true);
    cache.set('b', false);
    expect(cache.get('a')).toBe(true); // a is now the most recent
    cache.set('c', true); // evicts b
    expect(cache.size).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(true);
    expect(cache.get('c')).toBe(true);
    cache.set('c', false); // an update evicts nothing
    expect(cache.get('a')).toBe(true);
    expect(cache.get('c')).toBe(false);
  });

  it('keeps what is asked for every generation while new keys stream through, within its capacity', () => {
    const cache = new DecisionCache(10);
    cache.set('hot', true);
    for (let i = 0; i < 1_000; i++) {
      expect(cache.get('hot'), `after ${i} new keys`).toBe(true);
      cache.set(`cold-${i}`, i % 2 === 0);
      expect(cache.size).toBeLessThanOrEqual(10);
    }
    // The last generation's keys are still there; the first ones are gone.
    expect(cache.get('cold-999')).toBe(false);
    expect(cache.get('cold-998')).toBe(true);
    expect(cache.get('cold-0')).toBeUndefined();
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.get('hot')).toBeUndefined();
  });

  it('does not cache very long keys, or anything at capacity 0', () => {
    const cache = new DecisionCache(10);
    cache.set('x'.repeat(2_000), true);
    expect(cache.size).toBe(0);
    const none = new DecisionCache(0);
    none.set('a', true);
    expect(none.get('a')).toBeUndefined();
  });
});
