/**
 * A bounded least-recently-used map from a resource key to an allow/deny
 * answer, one per session, so the per-message path is one map lookup instead
 * of a walk over the ACL.
 */

/** Keys longer than this are not cached: a client cycling through huge topics must not make the cache hold megabytes. */
const MAX_KEY_LENGTH = 1_024;

export class DecisionCache {
  readonly #capacity: number;
  readonly #entries = new Map<string, boolean>();

  /** @param capacity most answers kept; 0 caches nothing. */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached answer for `key`, or undefined. */
  get(key: string): boolean | undefined {
    const entries = this.#entries;
    const hit = entries.get(key);
    // Recency only matters once something has to be evicted; below capacity a hit costs one lookup.
    if (hit !== undefined && entries.size >= this.#capacity) {
      // Map iteration order is insertion order: re-inserting marks the entry most recent.
      entries.delete(key);
      entries.set(key, hit);
    }
    return hit;
  }

  /** Caches `answer` for `key`, evicting the least recently used entry when full. */
  set(key: string, answer: boolean): void {
    if (this.#capacity === 0 || key.length > MAX_KEY_LENGTH) return;
    const entries = this.#entries;
    if (entries.size >= this.#capacity && !entries.has(key)) entries.delete(entries.keys().next().value as string);
    entries.set(key, answer);
  }

  clear(): void {
    this.#entries.clear();
  }
}
