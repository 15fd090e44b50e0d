/**
 * Runs the compiled `roost` command as a user would: `node dist/src/cli.js`.
 * `npm test` builds first; for a local run, `npm run build` before vitest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_PATH = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Working directory; a fresh temp dir keeps `./roost.yaml` and `./data` lookups away from the repo. */
  readonly cwd: string;
  /** Added to an environment stripped of every inherited `ROOST_*` variable. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A log line from the broker's JSON output. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

function isolatedEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('ROOST_')) env[name] = value;
  }
  // Listeners a test does not name stay off, so parallel tests never race for 61613 or 8080.
  return { ...env, ROOST_LOG_PRETTY: 'false', ROOST_STOMP_PORT: '0', ROOST_HTTP_PORT: '0', ...extra };
}

/** A running `roost` process whose output is collected as it arrives. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<CliResult>;
  #stdout = '';
  #stderr = '';
  #waiters = new Set<() => void>();

  constructor(args: readonly string[], options: CliOptions) {
    this.child = spawn(process.execPath, [CLI_PATH, ...args], {
      cwd: options.cwd,
      env: isolatedEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stdout += chunk;
      for (const wake of this.#waiters) wake();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        for (const wake of this.#waiters) wake();
        resolve({ code, signal, stdout: this.#stdout, stderr: this.#stderr });
      });
    });
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Parsed JSON lines of stdout so far; anything else is skipped. */
  logLines(): LogLine[] {
    const lines: LogLine[] = [];
    for (const text of this.#stdout.split('\n')) {
      if (!text.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        // A line still being written.
      }
    }
    return lines;
  }

  /** Resolves with the broker's `ready` log line (every listener bound, the store open). */
  waitUntilReady(timeoutMs?: number): Promise<LogLine> {
    return this.waitForLog((line) => line.msg === 'ready', timeoutMs);
  }

  /** Resolves with the first log line matching `predicate`; rejects if the process exits first or after `timeoutMs`. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      const check = (): void => {
        const found = this.logLines().find(predicate);
        if (found) {
          done();
          resolve(found);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`roost exited before the expected log line\nstdout:\n${this.#stdout}\nstderr:\n${this.#stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching log line within ${timeoutMs} ms\nstdout:\n${this.#stdout}\nstderr:\n${this.#stderr}`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** The exit result, or a rejection with the output so far if it is still running after `timeoutMs`. */
  waitForExit(timeoutMs = 10_000): Promise<CliResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`roost still running after ${timeoutMs} ms\nstdout:\n${this.#stdout}\nstderr:\n${this.#stderr}`));
      }, timeoutMs);
    });
    return Promise.race([this.exited, timeout]).finally(() => clearTimeout(timer));
  }

  /** Kills the process if it is still running (cleanup after a failed assertion). */
  async dispose(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Runs `roost args` to completion. */
export async function runCli(args: readonly string[], options: CliOptions): Promise<CliResult> {
  const cli = new CliProcess(args, options);
  return cli.exited;
}

/**
 * A TCP port that was free a moment ago, for a broker that must come back on the same port.
 * Picked below the kernel's ephemeral range: a port from that range can be taken as the local
 * end of any outgoing connection (other tests make thousands) between this check and the bind,
 * or while a killed broker restarts.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  const floor = 10_000;
  const span = Math.max(1_000, low - floor);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = floor + Math.floor(Math.random() * span);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found in ${floor}..${floor + span - 1}`);
}

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return [low, high];
  } catch {
    // Not Linux: fall back to the IANA dynamic range.
  }
  return [49_152, 65_535];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A fresh temp dir and its removal. */
export function tempDir(prefix = 'roost-cli-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
