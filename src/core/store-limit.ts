/**
 * The disk watermark: whether the store may take new persistent messages.
 * Checked on a timer (not per message) through injected probes, so this
 * module does no I/O of its own. While it is over the mark, protocols refuse
 * new persistent messages (docs/limits.md); QoS 0 to live subscribers flows.
 */

export interface StoreWatermarkLimits {
  /** Refuse below this much free disk, bytes; 0: no floor. */
  readonly diskMinFreeBytes: number;
  /** Refuse above this store size, bytes; 0: no cap. */
  readonly storeMaxBytes: number;
}

export interface StoreProbes {
  /** Free bytes available to the broker on the store's file system. */
  freeBytes(): Promise<number>;
  /** Bytes the store occupies on disk. */
  storeBytes(): Promise<number>;
}

export interface StoreWatermarkOptions {
  readonly limits: StoreWatermarkLimits;
  readonly probes: StoreProbes;
  /** Between two checks, ms. */
  readonly intervalMs?: number;
  /** Told each time the state flips; `reason` is undefined when writes are accepted again. */
  readonly onChange?: (reason: string | undefined) => void;
}

export class StoreWatermark {
  readonly #options: StoreWatermarkOptions;
  #reason: string | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking: Promise<void> | undefined;

  constructor(options: StoreWatermarkOptions) {
    this.#options = options;
  }

  /** True when neither limit is set: nothing to watch. */
  get disabled(): boolean {
    const { diskMinFreeBytes, storeMaxBytes } = this.#options.limits;
    return diskMinFreeBytes === 0 && storeMaxBytes === 0;
  }

  /** Why new persistent messages are refused now; undefined while they are accepted. */
  get refusal(): string | undefined {
    return this.#reason;
  }

  /** Checks once now, then every `intervalMs` (unref'd) until `stop()`. */
  async start(): Promise<void> {
    if (this.disabled) return;
    await this.check();
    this.#timer = setInterval(() => void this.check(), this.#options.intervalMs ?? 1_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One check; a probe that fails keeps the previous state. Never rejects. */
  check(): Promise<void> {
    return (this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    }));
  }

  async #check(): Promise<void> {
    const { limits, probes } = this.#options;
    let reason: string | undefined;
    try {
      if (limits.diskMinFreeBytes > 0) {
        const free = await probes.freeBytes();
        if (free < limits.diskMinFreeBytes) reason = `free disk space (${free} bytes) is below limits.diskMinFreeBytes (${limits.diskMinFreeBytes})`;
      }
      if (reason === undefined && limits.storeMaxBytes > 0) {
        const size = await probes.storeBytes();
        if (size > limits.storeMaxBytes) reason = `the store (${size} bytes) is above limits.storeMaxBytes (${limits.storeMaxBytes})`;
      }
    } catch {
      return;
    }
    if (reason !== this.#reason) {
      const flipped = (reason === undefined) !== (this.#reason === undefined);
      this.#reason = reason;
      if (flipped) this.#options.onChange?.(reason);
    }
  }
}
