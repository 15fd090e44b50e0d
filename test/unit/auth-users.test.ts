import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasCode } from '../../src/core/errors.js';
import { hashPassword, verifyPassword } from '../../src/auth/password.js';
import { loadUsers, parseUsers, removeUser, saveUsersFile, setUser, usernameProblem } from '../../src/auth/users.js';

const FAST = { cost: 1024, blockSize: 8, parallelization: 1 };
const HASH = await hashPassword('pw', FAST);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'roost-users-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('parseUsers', () => {
  it('reads users, their hashes and their groups (duplicates dropped)', () => {
    const text = `# comment\nusers:\n  alice:\n    password: ${HASH}\n    groups: [ops, sensors, ops]\n  bob:\n    password: ${HASH}\n`;
    const { users, problems } = parseUsers(text, 'users.yaml');
    expect(problems).toEqual([]);
    expect([...users.keys()]).toEqual(['alice', 'bob']);
    expect(users.get('alice')).toEqual({ name: 'alice', passwordHash: HASH, groups: ['ops', 'sensors'] });
    expect(users.get('bob')?.groups).toEqual([]);
  });

  it('takes an empty file, a bare users key and a comment-only file as no users', () => {
    for (const text of ['', '# nobody yet\n', 'users:\n', 'users: {}\n']) {
      expect(parseUsers(text, 'u.yaml')).toEqual({ users: new Map(), problems: [] });
    }
  });

  it('reports one line per problem, naming the file, the line and the user', () => {
    const text = [
      'users:',
      '  alice:',
      '    password: hunter2',
      '  bob:',
      '    groups: [ops]',
      '  carol:',
      `    password: ${HASH}`,
      '    groups: ops',
      '  dave:',
      `    pasword: ${HASH}`,
      '  "a/b":',
      `    password: ${HASH}`,
      '  erin:',
      `    password: ${HASH}`,
      '    groups: [ops, ""]',
      '  frank: just-a-string',
      '  grace:',
      `    password: ${HASH}`,
      'extra: 1',
      '',
    ].join('\n');
    const { users, problems } = parseUsers(text, 'u.yaml');
    expect(problems).toEqual([
      'u.yaml:19: unknown key "extra" (the file holds one key, users)',
      'u.yaml:2: user "alice": password is not a usable hash: expected scrypt$N$r$p$salt$hash',
      'u.yaml:4: user "bob": no password (set one with roost passwd add)',
      'u.yaml:6: user "carol": groups must be a list of names, got a string',
      'u.yaml:9: user "dave": unknown key "pasword" (expected password or groups)',
      'u.yaml:9: user "dave": no password (set one with roost passwd add)',
      `u.yaml:11: user "a/b": the name contains '/', '+' or '#'`,
      'u.yaml:13: user "erin": groups must be a list of non-empty names',
      'u.yaml:16: user "frank": expected a mapping with password and groups, got a string',
    ]);
    // Only the users without a problem are usable.
    expect([...users.keys()]).toEqual(['grace']);
  });

  it('reports YAML syntax errors and duplicate users with line and column', () => {
    const { problems } = parseUsers(`users:\n  alice:\n    password: ${HASH}\n  alice:\n    password: ${HASH}\n`, 'u.yaml');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^u\.yaml:4:3: .*unique/i);
    expect(parseUsers('users: [alice', 'u.yaml').problems[0]).toMatch(/^u\.yaml:\d+:\d+: /);
  });

  it('rejects a file whose top level or users key has the wrong shape', () => {
    expect(parseUsers('- alice\n', 'u.yaml').problems).toEqual(['u.yaml: expected a mapping with a "users" key, got a list']);
    expect(parseUsers('users: [alice]\n', 'u.yaml').problems).toEqual([
      'u.yaml:1: users: expected a mapping of user name to password and groups',
    ]);
  });
});

describe('usernameProblem', () => {
  it('keeps out names that would widen a %u pattern, and unprintable ones', () => {
    expect(usernameProblem('alice')).toBeUndefined();
    expect(usernameProblem('device-17.eu@example.com')).toBeUndefined();
    for (const name of ['', 'a/b', 'a+', '#', 'tab\there', ' alice', 'x'.repeat(257)]) {
      expect(usernameProblem(name), name).toBeDefined();
    }
  });
});

describe('loadUsers', () => {
  it('throws AUTH_USERS_INVALID with every problem, AUTH_USERS_UNREADABLE for a missing file', async () => {
    const file = join(dir, 'users.yaml');
    writeFileSync(file, 'users:\n  alice: {}\n  bob: {}\n');
    await expect(loadUsers(file)).rejects.toSatisfy((err) => {
      return hasCode(err, 'AUTH_USERS_INVALID') && err.message.split('\n').length === 2 && err.message.includes('user "bob"');
    });
    await expect(loadUsers(join(dir, 'missing.yaml'))).rejects.toSatisfy(
      (err) => hasCode(err, 'AUTH_USERS_UNREADABLE') && /cannot read users file .*missing\.yaml: ENOENT/.test(err.message),
    );
  });
});

describe('editing', () => {
  it('creates a file with a header, then adds, changes and removes users, keeping comments and groups', async () => {
    let text = setUser('', 'u.yaml', 'alice', HASH, ['ops']);
    expect(text).toMatch(/^# Roost users/);
    text = `${text}# kept comment\n`;
    text = setUser(text, 'u.yaml', 'bob', HASH);
    const other = await hashPassword('new', FAST);
    text = setUser(text, 'u.yaml', 'alice', other);
    const parsed = parseUsers(text, 'u.yaml');
    expect(parsed.problems).toEqual([]);
    expect(parsed.users.get('alice')).toEqual({ name: 'alice', passwordHash: other, groups: ['ops'] });
    expect(parsed.users.get('bob')?.groups).toEqual([]);
    expect(text).toContain('# kept comment');

    text = setUser(text, 'u.yaml', 'alice', other, []);
    expect(parseUsers(text, 'u.yaml').users.get('alice')?.groups).toEqual([]);
    const removed = removeUser(text, 'u.yaml', 'bob');
    expect(removed).toBeDefined();
    expect([...parseUsers(removed ?? '', 'u.yaml').users.keys()]).toEqual(['alice']);
    expect(removeUser(text, 'u.yaml', 'nobody')).toBeUndefined();
  });

  it('fills in a bare users key, and refuses a file it cannot edit safely', () => {
    expect(parseUsers(setUser('users:\n', 'u.yaml', 'a', HASH), 'u.yaml').users.has('a')).toBe(true);
    expect(() => setUser('users: [a]\n', 'u.yaml', 'a', HASH)).toThrow(expect.objectContaining({ code: 'AUTH_USERS_INVALID' }));
    expect(() => setUser('users: {a: 1\n', 'u.yaml', 'a', HASH)).toThrow(expect.objectContaining({ code: 'AUTH_USERS_INVALID' }));
  });

  it('saves atomically with mode 0600 and leaves no temporary file', async () => {
    const file = join(dir, 'users.yaml');
    writeFileSync(file, 'old', { mode: 0o644 });
    const text = setUser('', file, 'alice', HASH);
    await saveUsersFile(file, text);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['users.yaml']);
    const { users } = await loadUsers(file);
    expect(await verifyPassword('pw', users.get('alice')?.passwordHash ?? '')).toBe(true);
    await expect(saveUsersFile(join(dir, 'no', 'such', 'dir.yaml'), text)).rejects.toSatisfy((err) => hasCode(err, 'AUTH_USERS_UNWRITABLE'));
  });
});
