/**
 * The users the broker currently knows. Loaded from the users file at start,
 * reloaded on demand (SIGHUP) and when the file changes. A reload that finds
 * a bad file keeps the users it had and says so in one log line.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { hasCode } from '../core/errors.js';
import { loadUsers, type UserEntry } from './users.js';

/** The part of a pino logger this module uses. */
export interface AuthLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** What one reload did. */
export type ReloadOutcome =
  | { readonly status: 'reloaded'; readonly users: number }
  /** The file holds what was loaded last time; nothing changed. */
  | { readonly status: 'unchanged'; readonly users: number }
  /** The file could not be read or is invalid; the previous users stay. */
  | { readonly status: 'failed'; readonly users: number; readonly problems: readonly string[] };

export interface UserDirectoryOptions {
  readonly log?: AuthLogger | undefined;
  /** Reload when the file changes. Default true. */
  readonly watch?: boolean | undefined;
  /** Quiet time after the last change event before reloading, ms; editors write a file in several steps. Default 200. */
  readonly debounceMs?: number | undefined;
  /** Called after every reload, whatever its outcome (metrics, tests). */
  readonly onReload?: ((outcome: ReloadOutcome) => void) | undefined;
}

const DEFAULT_DEBOUNCE_MS = 200;

/**
 * Users by name, replaced as a whole on reload. `generation` goes up by one
 * each time the set of users changes, so holders of derived state (cached
 * ACL decisions) can tell theirs is stale.
 */
export class UserDirectory {
  readonly #file: string | undefined;
  readonly #log: AuthLogger | undefined;
  readonly #onReload: UserDirectoryOptions['onReload'];
  #users: ReadonlyMap<string, UserEntry>;
  #text: string | undefined;
  #generation = 0;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  private constructor(file: string | undefined, users: ReadonlyMap<string, UserEntry>, text: string | undefined, options: UserDirectoryOptions) {
    this.#file = file;
    this.#users = users;
    this.#text = text;
    this.#log = options.log;
    this.#onReload = options.onReload;
  }

  /**
   * Loads `file` (resolved against the working directory) and, unless
   * `options.watch` is false, watches its directory for changes.
   * @throws RoostError AUTH_USERS_UNREADABLE when the file cannot be read.
   * @throws RoostError AUTH_USERS_INVALID listing every problem, one per line.
   */
  static async open(file: string, options: UserDirectoryOptions = {}): Promise<UserDirectory> {
    const path = resolve(file);
    const { users, text } = await loadUsers(path);
    const directory = new UserDirectory(path, users, text, options);
    if (options.watch !== false) directory.#watch(options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    return directory;
  }

  /** A fixed set of users, backed by no file (no users file configured, tests). */
  static of(entries: Iterable<UserEntry> = []): UserDirectory {
    return new UserDirectory(undefined, new Map([...entries].map((entry) => [entry.name, entry])), undefined, {});
  }

  /** The absolute path of the users file, if there is one. */
  get file(): string | undefined {
    return this.#file;
  }

  get size(): number {
    return this.#users.size;
  }

  /** Goes up by one each time a reload changes the users. */
  get generation(): number {
    return this.#generation;
  }

  get(name: string): UserEntry | undefined {
    return this.#users.get(name);
  }

  /**
   * Reads the file again. Never rejects: a file that cannot be read or is
   * invalid keeps the current users and is logged as one warning line.
   * Reloads run one at a time, in the order asked.
   */
  reload(): Promise<ReloadOutcome> {
    const next = this.#chain.then(() => this.#reloadNow());
    this.#chain = next;
    return next;
  }

  async #reloadNow(): Promise<ReloadOutcome> {
    const file = this.#file;
    let outcome: ReloadOutcome;
    if (file === undefined) {
      outcome = { status: 'unchanged', users: this.#users.size };
    } else {
      try {
        const { users, text } = await loadUsers(file);
        if (text === this.#text) {
          outcome = { status: 'unchanged', users: users.size };
        } else {
          this.#users = users;
          this.#text = text;
          this.#generation++;
          outcome = { status: 'reloaded', users: users.size };
          this.#log?.info({ file, users: users.size }, 'users reloaded');
        }
      } catch (err) {
        const problems = hasCode(err, 'AUTH_USERS_INVALID') || hasCode(err, 'AUTH_USERS_UNREADABLE') ? err.message.split('\n') : [String(err)];
        const kept = this.#users.size;
        outcome = { status: 'failed', users: kept, problems };
        this.#log?.warn(
          { file, problems: problems.length },
          `users file not reloaded, keeping the ${kept} ${kept === 1 ? 'user' : 'users'} loaded before: ${problems.join('; ')}`,
        );
      }
    }
    this.#onReload?.(outcome);
    return outcome;
  }

  #watch(debounceMs: number): void {
    const file = this.#file as string;
    const name = basename(file);
    try {
      // The directory, not the file: an atomic save replaces the file's inode, which a file watch would lose.
      this.#watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
        if (changed !== null && changed !== name) return;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          void this.reload();
        }, debounceMs);
        this.#timer.unref();
      });
      this.#watcher.on('error', (err) => {
        this.#log?.warn({ err, file }, 'stopped watching the users file; send SIGHUP to reload it');
        this.#stopWatching();
      });
    } catch (err) {
      this.#log?.warn({ err, file }, 'cannot watch the users file; send SIGHUP to reload it');
    }
  }

  #stopWatching(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  /** Stops watching and waits for a reload in progress. Idempotent. */
  close(): Promise<void> {
    return (this.#closing ??= this.#shutdown());
  }

  async #shutdown(): Promise<void> {
    this.#stopWatching();
    await this.#chain.catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
