/**
 * The in-memory index of persisted subscriptions by filter, so finding who is
 * subscribed to a topic walks the topic's levels (plus the `+` and `#`
 * branches) instead of testing every filter.
 */
import { TopicTree } from '../core/topic-tree.js';

/** What the index holds per (client, filter); returned as-is by `match`. */
export interface IndexedSubscription {
  readonly clientId: string;
  readonly topic: string;
  readonly [field: string]: unknown;
}

export class SubscriptionIndex {
  /** Filter → key (the client id, unless given) → subscription. */
  readonly #tree = new TopicTree<Map<string, IndexedSubscription>>();
  #size = 0;

  /** Number of (client, filter) pairs held. */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds or replaces the subscription held under `filter` (default
   * `sub.topic`) and `key` (default `sub.clientId`).
   */
  set(sub: IndexedSubscription, filter: string = sub.topic, key: string = sub.clientId): void {
    const subs = this.#tree.upsert(filter, () => new Map());
    if (!subs.has(key)) this.#size++;
    subs.set(key, sub);
  }

  /** Removes the subscription under `key` (a client id, unless `set` was given another) and `filter`; true when it was there. */
  delete(key: string, filter: string): boolean {
    const subs = this.#tree.get(filter);
    if (!subs?.delete(key)) return false;
    this.#size--;
    if (subs.size === 0) this.#tree.delete(filter);
    return true;
  }

  /** Subscriptions whose filter matches topic name `topic`. */
  match(topic: string): IndexedSubscription[] {
    const out: IndexedSubscription[] = [];
    this.#tree.matchTopic(topic, (subs) => {
      for (const sub of subs.values()) out.push(sub);
    });
    return out;
  }
}
