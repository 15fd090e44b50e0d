import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliProcess, freePort, runCli, tempDir } from '../helpers/cli-process.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  dir.remove();
});

/** No stack frame, no "Error:" dump: what a user sees must be written for them. */
function expectNoStack(text: string): void {
  expect(text).not.toMatch(/^\s+at /m);
  expect(text).not.toMatch(/RoostError|\.ts:\d+|\.js:\d+/);
}

describe('roost --version / --help', () => {
  it('prints the package version', async () => {
    const result = await runCli(['--version'], { cwd: dir.path });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${pkg.version}\n`);
  });

  it('prints usage for --help and for help', async () => {
    for (const args of [['--help'], ['help'], ['start', '-h']]) {
      const result = await runCli(args, { cwd: dir.path });
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('Usage: roost <command>');
      expect(result.stdout).toContain('--mqtt-port PORT');
      expect(result.stderr).toBe('');
    }
  });
});

describe('roost: mistakes on the command line', () => {
  it('rejects an unknown flag with a usage hint, exit 2', async () => {
    const result = await runCli(['start', '--bogus'], { cwd: dir.path });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("roost: unknown option '--bogus'");
    expect(result.stderr).toContain('roost --help');
    expect(result.stdout).toBe('');
  });

  it('rejects an unknown command and a missing command, exit 2', async () => {
    const unknown = await runCli(['frobnicate'], { cwd: dir.path });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('roost: unknown command "frobnicate"');
    const none = await runCli([], { cwd: dir.path });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('roost --help');
  });
});

describe('roost start: configuration errors', () => {
  it('reports every problem of a bad config file, keys named, exit 2, no stack', async () => {
    const file = join(dir.path, 'bad.yaml');
    writeFileSync(file, 'mqtt:\n  prot: 1883\n  receiveMaximum: 0\ndurability: fast\n');
    const result = await runCli(['start', '--config', file, '--mqtt-port', 'abc'], { cwd: dir.path });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('roost: invalid configuration, 4 problems:');
    expect(lines.slice(1)).toEqual([
      `  durability: expected one of os, fsync, got "fast" [${file}:4]`,
      '  mqtt.port: expected an integer 0–65535, got "abc" [--mqtt-port]',
      `  mqtt.receiveMaximum: expected an integer 1–65535, got 0 [${file}:3]`,
      `  mqtt.prot: unknown key (did you mean mqtt.port?) [${file}:2]`,
    ]);
    expectNoStack(result.stderr);
  });

  it('reads ROOST_CONFIG and ROOST_* variables', async () => {
    const file = join(dir.path, 'env.yaml');
    writeFileSync(file, 'log:\n  level: loud\n');
    const result = await runCli(['start'], { cwd: dir.path, env: { ROOST_CONFIG: file, ROOST_MQTT_PORT: '70000' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`log.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud" [${file}:2]`);
    expect(result.stderr).toContain('mqtt.port: expected an integer 0–65535, got 70000 [ROOST_MQTT_PORT]');
  });

  it('says in one line that a --config file cannot be read, exit 2', async () => {
    const missing = join(dir.path, 'nope.yaml');
    const result = await runCli(['start', '--config', missing], { cwd: dir.path });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`roost: cannot read config file ${missing}: ENOENT: no such file or directory\n`);
    expect(result.stdout).toBe('');
  });
});

describe('roost start: running the broker', () => {
  const started: CliProcess[] = [];
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((cli) => cli.dispose()));
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  function startRoost(args: readonly string[]): CliProcess {
    const cli = new CliProcess(['start', ...args], { cwd: dir.path });
    started.push(cli);
    return cli;
  }

  const listeningOn = (port: number) => (line: { msg?: string }) =>
    line.msg === 'listening' && JSON.stringify(line).includes(`:${port}`);

  it('listens on the given port, says it runs on defaults, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const cli = startRoost(['--mqtt-port', String(port), '--data-dir', join(dir.path, 'data')]);
    await cli.waitForLog(listeningOn(port));

    const notice = cli.logLines().find((line) => String(line.msg).startsWith('no config file'));
    expect(notice?.msg).toContain(`MQTT on 127.0.0.1:${port} (local connections only)`);
    expect(notice?.msg).toContain('anonymous clients allowed');
    expect(notice?.level).toBe(30);

    await new Promise<void>((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', reject);
    });

    cli.child.kill('SIGTERM');
    const result = await cli.waitForExit(5_000);
    expect(result.code).toBe(0);
    const messages = cli.logLines().map((line) => line.msg);
    expect(messages).toContain('shutting down');
    expect(messages).toContain('stopped');
    expect(result.stderr).toBe('');
  });

  it('finds ./roost.yaml in the working directory', async () => {
    const port = await freePort();
    writeFileSync(join(dir.path, 'roost.yaml'), `dataDir: ./store\nmqtt:\n  port: ${port}\n`);
    const cli = startRoost([]);
    await cli.waitForLog(listeningOn(port));
    expect(cli.logLines().find((line) => line.msg === 'starting roost')).toMatchObject({ config: 'roost.yaml' });
    expect(cli.logLines().some((line) => String(line.msg).startsWith('no config file'))).toBe(false);
    cli.child.kill('SIGINT');
    expect((await cli.waitForExit(5_000)).code).toBe(0);
  });

  it('keeps running with every listener disabled until a signal', async () => {
    const cli = startRoost(['--mqtt-port', '0', '--data-dir', join(dir.path, 'data')]);
    const ready = await cli.waitUntilReady();
    expect(ready).toMatchObject({ mqtt: null });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(cli.child.exitCode).toBeNull();
    cli.child.kill('SIGTERM');
    expect((await cli.waitForExit(5_000)).code).toBe(0);
  });

  it('says in one line that the port is in use, exit 1', async () => {
    const port = await freePort();
    const blocker = createServer();
    servers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));

    const cli = startRoost(['--mqtt-port', String(port), '--data-dir', join(dir.path, 'data')]);
    const result = await cli.waitForExit();
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^roost: .*127\\.0\\.0\\.1:${port}.*already in use`));
    expectNoStack(result.stderr);
  });

  it('says in one line that the data dir is locked by another roost, exit 1', async () => {
    const data = join(dir.path, 'data');
    const first = startRoost(['--mqtt-port', String(await freePort()), '--data-dir', data]);
    await first.waitUntilReady();

    const second = startRoost(['--mqtt-port', String(await freePort()), '--data-dir', data]);
    const result = await second.waitForExit();
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^roost: .*data.* in use by another roost/);
    expectNoStack(result.stderr);

    first.child.kill('SIGTERM');
    expect((await first.waitForExit(5_000)).code).toBe(0);
  });
});
