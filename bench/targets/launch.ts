/**
 * Starts each broker under test as its own child process, so its CPU and
 * RSS can be read from /proc by PID, and kills it by that PID afterwards.
 * Every child started here is also killed if the harness exits early.
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readOpenFilesLimit } from '../proc.js';

/** Targets the harness can start itself. */
export const TARGET_NAMES = ['roost', 'aedes', 'mosquitto', 'aedes-patched'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** A broker the scenario can load: where it listens and, when known, its PID. */
export interface Target {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Undefined for an external broker given by `--port` (no CPU/RSS figures then). */
  readonly pid: number | undefined;
  /** STOMP port, when the target was started with `StartOptions.stompPort`. */
  readonly stompPort?: number | undefined;
  /** HTTP (WebSocket) port, when the target was started with `StartOptions.httpPort`. */
  readonly httpPort?: number | undefined;
}

export interface RunningTarget extends Target {
  /** True while the child has not exited; a false after a run means it crashed under load. */
  readonly alive: boolean;
  /** SIGTERM, then SIGKILL after a grace period; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /**
   * Crash and restart: SIGKILL by PID (no shutdown of any kind), then the same
   * command again on the same ports, temp dir and so data dir; resolves once it
   * accepts connections. `pid` and `alive` are the new process's afterwards.
   * @throws Error when the target is stopped or the new process does not listen in time.
   */
  restart(): Promise<void>;
}

export interface StartOptions {
  /** Soft open-files limit the child needs (for many connections); raised up to the hard limit when possible. */
  readonly openFiles?: number;
  /** How long to wait for the port to accept connections, ms (default 15,000). */
  readonly readyTimeoutMs?: number;
  /** Roost only: also listen for STOMP on a free port (exposed as `stompPort`); otherwise STOMP is off. */
  readonly stompPort?: boolean;
  /** Roost only: also run the HTTP listener (MQTT and STOMP over WebSocket) on a free port (exposed as `httpPort`); otherwise it is off. */
  readonly httpPort?: boolean;
  /** Extra environment for the child, on top of the harness's (e.g. `ROOST_QUEUES`). */
  readonly env?: Readonly<Record<string, string>>;
}

/** The target cannot run on this machine (not built, not installed); the scenario reports it as skipped. */
export class TargetUnavailableError extends Error {
  override readonly name = 'TargetUnavailableError';
}

const HOST = '127.0.0.1';
const STOP_GRACE_MS = 3_000;
const STDERR_TAIL_BYTES = 4_096;

/** dist/bench/targets → the repository's dist/ root. */
const DIST_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Running children and their temp dirs, for the last-resort cleanup on exit. */
const live = new Map<ChildProcess, string>();
let cleanupInstalled = false;

/**
 * Kills every child still running when the harness exits or is interrupted,
 * so an aborted run never leaves a broker holding a port.
 */
export function installChildCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllNow();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

function killAllNow(): void {
  for (const [child, tempDir] of live) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // Synchronous: an 'exit' handler cannot wait for anything.
    rmSync(tempDir, { recursive: true, force: true });
  }
  live.clear();
}

/**
 * Starts `name` on a free port of 127.0.0.1 and waits until it accepts TCP connections.
 * @throws TargetUnavailableError when the target is not built or not installed.
 * @throws Error when it exits early or is not ready in time (its stderr tail is in the message).
 */
export async function startTarget(name: TargetName, options: StartOptions = {}): Promise<RunningTarget> {
  const port = await freePort();
  const tempDir = await mkdtemp(join(tmpdir(), `roost-bench-${name}-`));
  try {
    const [command, args] = await commandFor(name, port, tempDir);
    const stompPort = options.stompPort === true && name === 'roost' ? await freePort() : undefined;
    const httpPort = options.httpPort === true && name === 'roost' ? await freePort() : undefined;
    // Listeners a scenario does not use stay off: nothing else is measured, and no default port can collide.
    if (name === 'roost') args.push('--stomp-port', String(stompPort ?? 0), '--http-port', String(httpPort ?? 0));
    // cwd in the temp dir: a roost.yaml in the caller's directory must not change what is measured.
    const child = spawnWithLimits(command, args, options.openFiles, tempDir, options.env);
    live.set(child, tempDir);
    const target = new ChildTarget(name, port, child, tempDir, stompPort, httpPort);
    target.respawn = { start: () => spawnWithLimits(command, args, options.openFiles, tempDir, options.env), readyTimeoutMs: options.readyTimeoutMs ?? 15_000 };
    try {
      await waitForPort(port, child, target, options.readyTimeoutMs ?? 15_000);
      if (stompPort !== undefined) await waitForPort(stompPort, child, target, options.readyTimeoutMs ?? 15_000);
      if (httpPort !== undefined) await waitForPort(httpPort, child, target, options.readyTimeoutMs ?? 15_000);
    } catch (err) {
      await target.stop();
      throw err;
    }
    return target;
  } catch (err) {
    await rm(tempDir, { recursive: true, force: true });
    throw err;
  }
}

async function commandFor(name: TargetName, port: number, tempDir: string): Promise<[string, string[]]> {
  switch (name) {
    case 'roost': {
      const cli = join(DIST_ROOT, 'src', 'cli.js');
      if (!existsSync(cli)) throw new TargetUnavailableError(`${cli} not found: run npm run build`);
      return [
        process.execPath,
        [cli, 'start', '--mqtt-port', String(port), '--data-dir', join(tempDir, 'data'), '--log-level', 'warn'],
      ];
    }
    case 'aedes':
      return [process.execPath, [join(DIST_ROOT, 'bench', 'targets', 'aedes.js'), String(port), await stockAedes()]];
    case 'aedes-patched':
      // node_modules/aedes, i.e. with Roost's patches: what Roost's own MQTT path runs on.
      return [process.execPath, [join(DIST_ROOT, 'bench', 'targets', 'aedes.js'), String(port)]];
    case 'mosquitto': {
      const binary = findOnPath('mosquitto', ['/usr/sbin', '/usr/local/sbin']);
      if (binary === undefined) throw new TargetUnavailableError('mosquitto not installed (Debian package mosquitto)');
      const config = join(tempDir, 'mosquitto.conf');
      // Stock limits except the per-client queue: with the default of 1,000, mosquitto drops QoS 1
      // messages it has already PUBACKed once a subscriber lags, which makes throughput incomparable
      // with brokers that keep them. max_inflight_messages stays at its default of 20.
      await writeFile(
        config,
        [
          `listener ${port} ${HOST}`,
          'allow_anonymous true',
          'persistence false',
          'max_queued_messages 0',
          'log_dest stderr',
          'log_type error',
          'log_type warning',
          '',
        ].join('\n'),
      );
      return [binary, ['-c', config]];
    }
  }
}

/** The repository root: dist/ is directly under it. */
const REPO_ROOT = join(DIST_ROOT, '..');

/**
 * The aedes package exactly as npm installs it, without Roost's patches (which
 * node_modules/aedes carries and which change its delivery path): installed
 * once, with its own dependencies, into node_modules/.cache, at the version
 * package.json pins. Returns the package directory.
 * @throws TargetUnavailableError when npm cannot install it (offline).
 */
async function stockAedes(): Promise<string> {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const version = pkg.dependencies?.['aedes'];
  if (version === undefined) throw new TargetUnavailableError('package.json names no aedes version');
  const prefix = join(REPO_ROOT, 'node_modules', '.cache', 'roost-bench', `aedes-${version}`);
  const dir = join(prefix, 'node_modules', 'aedes');
  if (existsSync(join(dir, 'package.json'))) return dir;
  process.stderr.write(`bench: installing stock aedes ${version} into ${prefix} …\n`);
  const args = ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', `aedes@${version}`];
  await new Promise<void>((resolve, reject) =>
    execFile('npm', args, { cwd: REPO_ROOT }, (err, _stdout, stderr) =>
      err ? reject(new TargetUnavailableError(`stock aedes ${version} could not be installed: ${stderr.trim().split('\n').pop() ?? err.message}`)) : resolve(),
    ),
  );
  if (!existsSync(join(dir, 'package.json'))) throw new TargetUnavailableError(`stock aedes ${version} not found in ${prefix} after npm install`);
  return dir;
}

function findOnPath(binary: string, extraDirs: readonly string[]): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), ...extraDirs].filter((dir) => dir.startsWith('/'));
  return dirs.map((dir) => join(dir, binary)).find((candidate) => existsSync(candidate));
}

/**
 * Node cannot set rlimits on itself, so a child that needs more open files
 * is started through `sh -c 'ulimit -n N; exec …'`: exec keeps the PID.
 */
function spawnWithLimits(
  command: string,
  args: readonly string[],
  openFiles: number | undefined,
  cwd: string,
  extraEnv?: Readonly<Record<string, string>>,
): ChildProcess {
  const stdio: ['ignore', 'ignore', 'pipe'] = ['ignore', 'ignore', 'pipe'];
  // Every bench connection comes from 127.0.0.1: Roost's per-IP and total connection limits
  // would cap mqtt-conns, so they are lifted here (other targets ignore ROOST_* variables).
  const env = { ...process.env, ROOST_LIMITS_MAX_CONNECTIONS: '1000000', ROOST_LIMITS_MAX_CONNECTIONS_PER_IP: '1000000', ...extraEnv };
  const limit = readOpenFilesLimit('self');
  // Only ever raise: a child inherits our limit, and lowering it would cap the figure being measured.
  if (openFiles === undefined || limit === undefined || openFiles <= limit.soft) return spawn(command, args, { stdio, cwd, env });
  const wanted = Math.floor(Math.min(openFiles, limit.hard));
  const script = `ulimit -n ${wanted} 2>/dev/null; exec "$0" "$@"`;
  return spawn('/bin/sh', ['-c', script, command, ...args], { stdio, cwd, env });
}

class ChildTarget implements RunningTarget {
  readonly host = HOST;
  /** Replaced by `restart()`. */
  pid: number | undefined;
  /** How `restart()` starts the same process again; set by `startTarget`. */
  respawn: { readonly start: () => ChildProcess; readonly readyTimeoutMs: number } | undefined;
  #stderrTail = '';
  #stopping: Promise<void> | undefined;
  #exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly port: number,
    public child: ChildProcess,
    readonly tempDir: string,
    readonly stompPort?: number | undefined,
    readonly httpPort?: number | undefined,
  ) {
    this.pid = child.pid;
    this.#exited = this.#watch(child);
  }

  /** Keeps the tail of `child`'s stderr; resolves when it exits. */
  #watch(child: ChildProcess): Promise<void> {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL_BYTES);
    });
    child.on('error', (err) => {
      this.#stderrTail += `\n${err.message}`;
    });
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.pid !== undefined;
  }

  get stderrTail(): string {
    return this.#stderrTail.trim();
  }

  get exitDescription(): string {
    const { exitCode, signalCode } = this.child;
    return signalCode !== null ? `signal ${signalCode}` : `exit code ${exitCode}`;
  }

  stop(): Promise<void> {
    return (this.#stopping ??= this.#stop());
  }

  async restart(): Promise<void> {
    if (this.#stopping !== undefined) throw new Error(`${this.name} was stopped; it cannot be restarted`);
    if (this.respawn === undefined) throw new Error(`${this.name} cannot be restarted`);
    if (this.alive && this.pid !== undefined) signal(this.pid, 'SIGKILL');
    await this.#exited;
    live.delete(this.child);
    const child = this.respawn.start();
    live.set(child, this.tempDir);
    this.child = child;
    this.pid = child.pid;
    this.#stderrTail += `\n(restarted as pid ${child.pid})`;
    this.#exited = this.#watch(child);
    const ports = [this.port, this.stompPort, this.httpPort].filter((port): port is number => port !== undefined);
    for (const port of ports) await waitForPort(port, child, this, this.respawn.readyTimeoutMs);
  }

  async #stop(): Promise<void> {
    if (this.alive && this.pid !== undefined) {
      signal(this.pid, 'SIGTERM');
      const graceful = await Promise.race([this.#exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
      if (!graceful && this.alive) {
        signal(this.pid, 'SIGKILL');
        await this.#exited;
      }
    }
    live.delete(this.child);
    await rm(this.tempDir, { recursive: true, force: true });
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // exited between the check and the kill
  }
}

async function waitForPort(port: number, child: ChildProcess, target: ChildTarget, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (!target.alive) {
      throw new Error(`${target.name} exited before listening (${target.exitDescription}): ${target.stderrTail || 'no stderr'}`);
    }
    if (await canConnect(port)) return;
    if (performance.now() > deadline) {
      throw new Error(
        `${target.name} (pid ${child.pid}) did not accept connections on port ${port} within ${timeoutMs} ms: ${target.stderrTail || 'no stderr'}`,
      );
    }
    await sleep(50);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A port that was free a moment ago: bind port 0, read the port, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the bound port'));
      });
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
