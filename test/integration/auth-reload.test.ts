import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Authorizer } from '../../src/auth/authorizer.js';
import { hashPassword } from '../../src/auth/password.js';
import { UserDirectory, type ReloadOutcome } from '../../src/auth/user-directory.js';
import { setUser } from '../../src/auth/users.js';
import { CLI_PATH, tempDir } from '../helpers/cli-process.js';

const FAST = { cost: 1024, blockSize: 8, parallelization: 1 };
const RELOAD_WITHIN_MS = 5_000;

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir('roost-reload-');
});
afterEach(() => {
  dir.remove();
});

/** The next reload outcome, or a rejection after `timeoutMs`. */
function nextReload(outcomes: ReloadOutcome[], count: number, timeoutMs = RELOAD_WITHIN_MS): Promise<ReloadOutcome> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      const outcome = outcomes[count];
      if (outcome) resolve(outcome);
      else if (Date.now() - started > timeoutMs) reject(new Error(`no reload within ${timeoutMs} ms`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

function passwdAdd(file: string, user: string, password: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, 'passwd', 'add', file, user], { cwd: dir.path, stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', reject);
    child.on('close', resolve);
    child.stdin.end(`${password}\n`);
  });
}

describe('UserDirectory: reload on file change', () => {
  it('picks up roost passwd add and a hand edit, keeps the old users on a bad file, and stops watching on close', async () => {
    const file = join(dir.path, 'users.yaml');
    writeFileSync(file, setUser('', file, 'alice', await hashPassword('one', FAST)), { mode: 0o600 });
    const outcomes: ReloadOutcome[] = [];
    const warnings: string[] = [];
    const log = { info: () => undefined, warn: (_fields: object, message: string) => warnings.push(message) };
    const users = await UserDirectory.open(file, { debounceMs: 50, log, onReload: (outcome) => outcomes.push(outcome) });
    const authorizer = new Authorizer({ users, ownsUsers: true, acl: [{ allow: { publish: ['ops/#'] }, groups: ['ops'] }] });
    const login = (user: string, password: string) => authorizer.authenticate({ username: user, password, clientId: user, protocol: 'mqtt' });

    // An atomic save by the CLI (temp file + rename) in the watched directory.
    expect(await passwdAdd(file, 'bob', 'two')).toBe(0);
    expect(await nextReload(outcomes, 0)).toEqual({ status: 'reloaded', users: 2 });
    expect((await login('bob', 'two')).ok).toBe(true);

    // An edit in place: bob joins ops, and his open session's cached answer is dropped.
    const bobResult = await login('bob', 'two');
    if (!bobResult.ok) throw new Error('bob should log in');
    expect(authorizer.canPublish(bobResult.user, 'ops/deploy')).toBe(false);
    const count = outcomes.length;
    writeFileSync(file, setUser(setUser('', file, 'alice', users.get('alice')?.passwordHash ?? ''), file, 'bob', users.get('bob')?.passwordHash ?? '', ['ops']));
    expect(await nextReload(outcomes, count)).toEqual({ status: 'reloaded', users: 2 });
    expect(authorizer.canPublish(bobResult.user, 'ops/deploy')).toBe(true);

    // A broken file: the users stay, one warning line.
    const before = outcomes.length;
    writeFileSync(file, 'users:\n  alice: [\n');
    const failed = await nextReload(outcomes, before);
    expect(failed.status).toBe('failed');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^users file not reloaded, keeping the 2 users loaded before: /);
    expect((await login('alice', 'one')).ok).toBe(true);

    await authorizer.close();
    const closedAt = outcomes.length;
    writeFileSync(file, '');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(outcomes).toHaveLength(closedAt);
    expect((await login('alice', 'one')).ok).toBe(true);
  });

  it('coalesces a burst of writes into few reloads', async () => {
    const file = join(dir.path, 'users.yaml');
    const hash = await hashPassword('pw', FAST);
    writeFileSync(file, setUser('', file, 'u0', hash));
    const outcomes: ReloadOutcome[] = [];
    await using users = await UserDirectory.open(file, { debounceMs: 100, onReload: (outcome) => outcomes.push(outcome) });
    let text = '';
    for (let i = 1; i <= 20; i++) {
      text = setUser(text, file, `u${i}`, hash);
      writeFileSync(file, text);
    }
    await nextReload(outcomes, 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(outcomes.length).toBeLessThanOrEqual(2);
    expect(users.size).toBe(20);
  });
});
