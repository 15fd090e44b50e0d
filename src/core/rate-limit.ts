/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`;
 * each admitted event takes one. Pure: the caller passes the time, so tests
 * need no timers.
 */
export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #burst: number;
  #tokens: number;
  #atMs: number;

  /** @throws RangeError when `ratePerSecond` is not positive or `burst` is below 1 */
  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    if (!(ratePerSecond > 0)) throw new RangeError(`ratePerSecond must be positive, got ${ratePerSecond}`);
    if (!(burst >= 1)) throw new RangeError(`burst must be at least 1, got ${burst}`);
    this.#ratePerMs = ratePerSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#atMs = nowMs;
  }

  /** Takes one token if there is one; false when the rate is exceeded. */
  take(nowMs: number): boolean {
    this.#refill(nowMs);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** True when the bucket is back to its burst: it remembers nothing worth keeping. */
  isFull(nowMs: number): boolean {
    this.#refill(nowMs);
    return this.#tokens >= this.#burst;
  }

  /** Milliseconds until the next token, 0 when one is there. */
  waitMs(nowMs: number): number {
    this.#refill(nowMs);
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) / this.#ratePerMs);
  }

  #refill(nowMs: number): void {
    // A clock that steps back refills nothing rather than draining the bucket.
    const elapsedMs = Math.max(0, nowMs - this.#atMs);
    this.#atMs = Math.max(this.#atMs, nowMs);
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsedMs * this.#ratePerMs);
  }
}

/**
 * The per-connection PUBLISH / SEND limit: `publishesPerSecond` sustained,
 * `publishBurst` at once. With a rate of 0 every publish is admitted.
 */
export class PublishLimiter {
  readonly #bucket: TokenBucket | undefined;
  readonly #now: () => number;

  constructor(limits: { readonly publishesPerSecond: number; readonly publishBurst: number }, now: () => number = Date.now) {
    this.#now = now;
    this.#bucket = limits.publishesPerSecond > 0 ? new TokenBucket(limits.publishesPerSecond, limits.publishBurst, now()) : undefined;
  }

  /** Admits one publish; false when it is over the rate. */
  admit(): boolean {
    return this.#bucket === undefined || this.#bucket.take(this.#now());
  }
}
