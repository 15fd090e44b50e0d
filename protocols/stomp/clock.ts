/** Time, injected so heart-beats and timeouts are testable without real timers. */
export interface StompClock {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs `fn` once after `ms`; the handle goes to `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process clock; its timers are unref'd, so an idle session never holds the process open. */
export const SYSTEM_CLOCK: StompClock = Object.freeze({
  now: () => Date.now(),
  setTimeout(fn: () => void, ms: number): unknown {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return timer;
  },
  clearTimeout(handle: unknown): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
});
