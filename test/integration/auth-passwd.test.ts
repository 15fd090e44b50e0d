import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuthorizer } from '../../src/auth/authorizer.js';
import { configDefaults } from '../../src/config/schema.js';
import { CLI_PATH, runCli, tempDir, type CliResult } from '../helpers/cli-process.js';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir('roost-passwd-');
});
afterEach(() => {
  dir.remove();
});

/** `roost args` with `input` piped to its standard input (not a terminal), as a provisioning script would. */
function runWithStdin(args: readonly string[], input: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('ROOST_')) env[name] = value;
    const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd: dir.path, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('roost passwd', () => {
  it('adds users with the password on stdin, lists them, deletes one; an Authorizer built from the file agrees', async () => {
    const file = join(dir.path, 'users.yaml');
    const added = await runWithStdin(['passwd', 'add', file, 'alice', '--group', 'ops', '-g', 'sensors'], 'wonderland\n');
    expect(added).toMatchObject({ code: 0, stdout: '' });
    expect(added.stderr).toBe(`roost: set the password of "alice" in ${file}\n`);
    expect((await runWithStdin(['passwd', 'add', file, 'bob'], 'builder\n')).code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain('wonderland');

    const listed = await runCli(['passwd', 'list', file], { cwd: dir.path });
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(listed.stdout).toBe('alice  ops, sensors\nbob\n');
    expect(listed.stdout).not.toContain('scrypt');

    const auth = { ...configDefaults().auth, usersFile: file, allowAnonymous: false };
    {
      await using authorizer = await createAuthorizer(auth, { watch: false });
      const alice = await authorizer.authenticate({ username: 'alice', password: Buffer.from('wonderland'), clientId: 'a', protocol: 'mqtt' });
      expect(alice.ok && alice.user.groups).toEqual(['ops', 'sensors']);
      expect(await authorizer.authenticate({ username: 'alice', password: 'builder', clientId: 'a', protocol: 'mqtt' })).toEqual({
        ok: false,
        reason: 'bad-credentials',
      });
      expect((await authorizer.authenticate({ username: 'bob', password: 'builder', clientId: 'b', protocol: 'stomp' })).ok).toBe(true);
    }

    // A new password for an existing user keeps their groups.
    expect((await runWithStdin(['passwd', 'add', file, 'alice'], 'looking-glass\n')).code).toBe(0);
    const deleted = await runCli(['passwd', 'delete', file, 'bob'], { cwd: dir.path });
    expect(deleted).toMatchObject({ code: 0, stderr: `roost: deleted user "bob" from ${file}\n` });
    expect((await runCli(['passwd', 'list', file], { cwd: dir.path })).stdout).toBe('alice  ops, sensors\n');

    await using authorizer = await createAuthorizer(auth, { watch: false });
    expect((await authorizer.authenticate({ username: 'alice', password: 'looking-glass', clientId: 'a', protocol: 'mqtt' })).ok).toBe(true);
    expect((await authorizer.authenticate({ username: 'alice', password: 'wonderland', clientId: 'a', protocol: 'mqtt' })).ok).toBe(false);
    expect((await authorizer.authenticate({ username: 'bob', password: 'builder', clientId: 'b', protocol: 'mqtt' })).ok).toBe(false);
  });

  it('keeps comments and hand-edited entries of the file', async () => {
    const file = join(dir.path, 'users.yaml');
    expect((await runWithStdin(['passwd', 'add', file, 'alice'], 'pw\n')).code).toBe(0);
    writeFileSync(file, `# managed by ops\n${readFileSync(file, 'utf8')}`);
    expect((await runWithStdin(['passwd', 'add', file, 'bob'], 'pw\n')).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^# managed by ops\n/);
  });

  it('fails with exit 1 for an empty password, an unknown user, an unreadable or broken file', async () => {
    const file = join(dir.path, 'users.yaml');
    const empty = await runWithStdin(['passwd', 'add', file, 'alice'], '');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/^roost: empty password/);

    const missing = await runCli(['passwd', 'list', file], { cwd: dir.path });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`roost: cannot read users file ${file}: ENOENT: no such file or directory\n`);

    expect((await runWithStdin(['passwd', 'add', file, 'alice'], 'pw\n')).code).toBe(0);
    const unknown = await runCli(['passwd', 'delete', file, 'mallory'], { cwd: dir.path });
    expect(unknown).toMatchObject({ code: 1, stderr: `roost: no user "mallory" in ${file}\n` });

    writeFileSync(file, `${readFileSync(file, 'utf8')}  bob:\n    password: plaintext\n`);
    const broken = await runCli(['passwd', 'list', file], { cwd: dir.path });
    expect(broken.code).toBe(1);
    expect(broken.stdout).toBe('alice\n');
    expect(broken.stderr).toContain(`user "bob": password is not a usable hash`);
  });

  it('rejects command-line mistakes with exit 2', async () => {
    const cases: [string[], string][] = [
      [['passwd'], 'passwd needs add, delete or list'],
      [['passwd', 'rename', 'f', 'u'], 'unknown passwd action "rename"'],
      [['passwd', 'add'], 'passwd add needs a users FILE'],
      [['passwd', 'delete', 'f'], 'passwd delete needs a USER'],
      [['passwd', 'list', 'f', 'extra'], 'unexpected argument "extra"'],
      [['passwd', 'add', 'f', 'a/b'], `user name "a/b" contains '/', '+' or '#'`],
      [['passwd', 'list', 'f', '--config', 'x'], '--config is not an option of passwd'],
      [['passwd', 'delete', 'f', 'u', '--group', 'g'], '--group is an option of passwd add'],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, { cwd: dir.path });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toBe(`roost: ${message}\nRun "roost --help" for usage.\n`);
    }
  });

  it('is in the help', async () => {
    const help = await runCli(['--help'], { cwd: dir.path });
    expect(help.stdout).toContain('passwd add FILE USER');
    expect(help.stdout).toContain('passwd list FILE');
  });
});
