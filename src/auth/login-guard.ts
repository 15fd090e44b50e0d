/**
 * What password logins may cost the broker. A password check is scrypt:
 * tens of milliseconds and 16 MiB in libuv's thread pool, the same few
 * threads the store and the file system use. So:
 *
 * - at most `maxConcurrentPasswordChecks` run at once, the pool's other
 *   threads stay free; up to `maxQueuedPasswordChecks` more wait their turn,
 *   and past that a login is refused as `busy` without any work;
 * - after `maxLoginFailures` failed logins of one user name from one source
 *   address within `loginFailureWindowMs`, that pair is refused as
 *   `throttled` for `loginBackoffMs`, its password not even checked. The key
 *   is the pair, not the address alone: one misbehaving device behind a NAT
 *   or a gateway does not lock out every other client there, and nobody can
 *   lock a user out from another address.
 *
 * No timers: failures expire when next looked at, and at most
 * `MAX_TRACKED_PAIRS` pairs are remembered.
 */
import type { AuthLogger } from './user-directory.js';

/** The `auth.*` keys that bound password logins; docs/auth.md. */
export interface LoginLimits {
  /** Password checks running at once. */
  readonly maxConcurrentPasswordChecks: number;
  /** Password checks waiting for a free slot; past it a login is refused as busy. */
  readonly maxQueuedPasswordChecks: number;
  /** Failed logins of one user name from one address within the window that start a back-off; 0: no back-off. */
  readonly maxLoginFailures: number;
  readonly loginFailureWindowMs: number;
  /** How long a user name is refused from that address once backed off, ms. */
  readonly loginBackoffMs: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = Object.freeze({
  maxConcurrentPasswordChecks: 2,
  maxQueuedPasswordChecks: 128,
  maxLoginFailures: 5,
  loginFailureWindowMs: 60_000,
  loginBackoffMs: 60_000,
});

/** Most (address, user name) pairs whose failures are remembered; the least recently failed is forgotten first. */
export const MAX_TRACKED_PAIRS = 10_000;

/** What became of one guarded password check. */
export type GuardedCheck = 'accepted' | 'rejected' | 'busy' | 'throttled';

interface Failures {
  /** When the failures still inside the window happened, oldest first. */
  readonly at: number[];
  /** Refused until then, ms on the guard's clock; 0: not backed off. */
  backoffUntil: number;
}

export interface LoginGuardOptions {
  /** Milliseconds, monotonic enough for windows of seconds. Default `performance.now`. */
  readonly now?: (() => number) | undefined;
  readonly log?: AuthLogger | undefined;
}

export class LoginGuard {
  readonly #limits: LoginLimits;
  readonly #now: () => number;
  readonly #log: AuthLogger | undefined;
  #running = 0;
  readonly #waiting: Array<() => void> = [];
  /** Keyed by `address + NUL + username`; Map order is the order of the last failure. */
  readonly #failures = new Map<string, Failures>();
  /** Whether the current run of busy refusals has been logged. */
  #busyLogged = false;

  /** @param limits each one absent or undefined takes its default. */
  constructor(limits: { readonly [K in keyof LoginLimits]?: number | undefined } = {}, options: LoginGuardOptions = {}) {
    const given = Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined));
    this.#limits = { ...DEFAULT_LOGIN_LIMITS, ...given };
    this.#now = options.now ?? (() => performance.now());
    this.#log = options.log;
  }

  /** Password checks running now. */
  get running(): number {
    return this.#running;
  }

  /** Password checks waiting for a slot now. */
  get queued(): number {
    return this.#waiting.length;
  }

  /** (address, user name) pairs with failures remembered. */
  get trackedPairs(): number {
    return this.#failures.size;
  }

  /**
   * Runs `check` (one password verification; true when the password is
   * right) within the limits, and remembers how it went for `username` from
   * `address`. Without an address (a transport that does not tell) there is
   * no back-off, only the bound on concurrent checks.
   * Rejects only when `check` does; its slot is released either way.
   */
  async check(address: string | undefined, username: string, check: () => Promise<boolean>): Promise<GuardedCheck> {
    const key = address === undefined ? undefined : `${address}\u0000${username}`;
    if (this.#backedOff(key)) return 'throttled';
    if (!(await this.#acquire())) return 'busy';
    try {
      // Checks that queued behind a run of failures of the same pair are not worth a hash any more.
      if (this.#backedOff(key)) return 'throttled';
      const accepted = await check();
      if (key !== undefined) {
        if (accepted) this.#failures.delete(key);
        else this.#failed(key, address as string, username);
      }
      return accepted ? 'accepted' : 'rejected';
    } finally {
      this.#release();
    }
  }

  #backedOff(key: string | undefined): boolean {
    if (key === undefined) return false;
    const entry = this.#failures.get(key);
    if (entry === undefined || entry.backoffUntil === 0) return false;
    if (this.#now() < entry.backoffUntil) return true;
    this.#failures.delete(key);
    return false;
  }

  #failed(key: string, address: string, username: string): void {
    const { maxLoginFailures, loginFailureWindowMs, loginBackoffMs } = this.#limits;
    if (maxLoginFailures === 0) return;
    const now = this.#now();
    const entry = this.#failures.get(key) ?? { at: [], backoffUntil: 0 };
    const at = entry.at;
    while (at.length > 0 && (at[0] as number) <= now - loginFailureWindowMs) at.shift();
    at.push(now);
    if (at.length >= maxLoginFailures) {
      at.length = 0;
      entry.backoffUntil = now + loginBackoffMs;
      this.#log?.warn(
        { remoteAddress: address, username, failures: maxLoginFailures, backoffMs: loginBackoffMs },
        'repeated failed logins: this user name is refused from this address for a while',
      );
    }
    // Re-inserted, so the map's first entry is the pair that failed longest ago.
    this.#failures.delete(key);
    this.#failures.set(key, entry);
    if (this.#failures.size > MAX_TRACKED_PAIRS) this.#failures.delete(this.#failures.keys().next().value as string);
  }

  /** True once a slot is this caller's; false when the queue is full. */
  async #acquire(): Promise<boolean> {
    const { maxConcurrentPasswordChecks, maxQueuedPasswordChecks } = this.#limits;
    if (this.#running < maxConcurrentPasswordChecks) {
      this.#running++;
      return true;
    }
    if (this.#waiting.length >= maxQueuedPasswordChecks) {
      if (!this.#busyLogged) {
        this.#busyLogged = true;
        this.#log?.warn(
          { running: this.#running, queued: this.#waiting.length },
          'too many logins waiting for a password check: refusing new ones as server busy',
        );
      }
      return false;
    }
    // The slot is handed over by #release, which does not decrement #running for it.
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return true;
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) {
      next();
      return;
    }
    this.#running--;
    if (this.#waiting.length === 0) this.#busyLogged = false;
  }
}
