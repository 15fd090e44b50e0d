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
  /** Filter → client id → subscription. */
  readonly #tree = new TopicTree<Map<string, IndexedSubscription>>();
  #size = 0;

  /** Number of (client, filter) pairs held. */
  get size(): number {
    return this.#size;
  }

  /** Adds or replaces the subscription of `sub.clientId` to `sub.topic`. */
  set(sub: IndexedSubscription): void {
    const subs = this.#tree.upsert(sub.topic, () => new Map());
    if (!subs.has(sub.clientId)) this.#size++;
    subs.set(sub.clientId, sub);
  }

  /** Removes `clientId`'s subscription to `filter`; true when it was there. */
  delete(clientId: string, filter: string): boolean {
    const subs = this.#tree.get(filter);
    if (!subs?.delete(clientId)) return false;
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
