/**
 * Pure counting helpers for the scenarios: percentiles, latency samples,
 * and sequence tracking for loss and duplicates. No I/O, no clocks.
 */

/**
 * The `p`-th percentile (0 < p ≤ 100) of ascending `sorted` values, by the
 * nearest-rank method: the smallest value with at least p% of the samples at
 * or below it. Nearest-rank never invents a value that was not measured.
 * @throws RangeError when `sorted` is empty or `p` is outside (0, 100].
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no samples');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.max(rank, 1) - 1] as number;
}

/**
 * Latency samples in a preallocated array, so recording one costs no
 * allocation on the receive path. Samples beyond the capacity are counted
 * but not kept.
 */
export class LatencyRecorder {
  readonly #samples: Float64Array;
  #count = 0;
  #overflow = 0;

  /** @param capacity most samples kept; size it for rate × duration. */
  constructor(capacity: number) {
    this.#samples = new Float64Array(capacity);
  }

  record(valueMs: number): void {
    if (this.#count < this.#samples.length) this.#samples[this.#count++] = valueMs;
    else this.#overflow++;
  }

  get count(): number {
    return this.#count;
  }

  /** Samples that did not fit; a non-zero value means the percentiles cover only the first `count`. */
  get overflow(): number {
    return this.#overflow;
  }

  /** p50/p99/p99.9/max in ms of what was recorded; undefined when nothing was. */
  summary(): { p50Ms: number; p99Ms: number; p999Ms: number; maxMs: number } | undefined {
    if (this.#count === 0) return undefined;
    const sorted = this.#samples.slice(0, this.#count).sort();
    return {
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      p999Ms: percentile(sorted, 99.9),
      maxMs: sorted[sorted.length - 1] as number,
    };
  }
}

/**
 * Which sequence numbers of one sender have arrived, as a growable bitset:
 * exact for loss, duplicates and reordering whatever the arrival order.
 */
export class SeqTracker {
  #bits = new Uint32Array(1024);
  #unique = 0;
  #duplicates = 0;

  /** Marks `seq` (a non-negative integer) as received; returns false when it had arrived before. */
  mark(seq: number): boolean {
    const word = seq >>> 5;
    if (word >= this.#bits.length) {
      let size = this.#bits.length * 2;
      while (size <= word) size *= 2;
      const grown = new Uint32Array(size);
      grown.set(this.#bits);
      this.#bits = grown;
    }
    const mask = 1 << (seq & 31);
    const current = this.#bits[word] as number;
    if ((current & mask) !== 0) {
      this.#duplicates++;
      return false;
    }
    this.#bits[word] = current | mask;
    this.#unique++;
    return true;
  }

  /** Distinct sequence numbers received. */
  get unique(): number {
    return this.#unique;
  }

  /** Arrivals of a sequence number already received. */
  get duplicates(): number {
    return this.#duplicates;
  }
}

/** Percentage of `sent` that never arrived, 0 when nothing was sent; rounded to 4 decimals. */
export function lossPct(sent: number, uniqueReceived: number): number {
  if (sent <= 0) return 0;
  return Math.round(((sent - uniqueReceived) / sent) * 100 * 10_000) / 10_000;
}
