/**
 * The in-memory index of retained topics, so a wildcard lookup walks only the
 * branches the filter can match instead of testing every retained topic. It
 * holds topic names only; the messages stay in LevelDB and are fetched for
 * the topics a lookup returns.
 */
import { TopicTree } from '../core/topic-tree.js';

export class RetainedIndex {
  readonly #tree = new TopicTree<string>();

  /** Number of retained topics. */
  get size(): number {
    return this.#tree.size;
  }

  /** Adds `topic`; true when it was not there yet. */
  add(topic: string): boolean {
    const before = this.#tree.size;
    this.#tree.upsert(topic, () => topic);
    return this.#tree.size > before;
  }

  /** Removes `topic`; true when it was there. */
  delete(topic: string): boolean {
    return this.#tree.delete(topic);
  }

  has(topic: string): boolean {
    return this.#tree.get(topic) !== undefined;
  }

  /** Topics matching `filter` (assumed valid), appended to `out`. */
  match(filter: string, out: string[] = []): string[] {
    this.#tree.matchFilter(filter, (topic) => out.push(topic));
    return out;
  }
}
