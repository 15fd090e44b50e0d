/**
 * Which queue deliveries an ACK or NACK settles (STOMP 1.2 "SUBSCRIBE ack
 * Header", "ACK", "NACK"). Each MESSAGE sent for a client-ack subscription is
 * recorded under its message-id; an ACK names one, and settles that delivery
 * alone (`client-individual`) or it and every earlier unsettled one of the
 * same subscription (`client`, cumulative). Pure bookkeeping.
 */

/** What an ACK or NACK id resolves to. */
export interface Settled<S> {
  readonly subscription: S;
  /** Queue delivery ids, oldest first. */
  readonly deliveryIds: readonly string[];
}

interface Pending<S> {
  readonly subscription: S;
  readonly deliveryId: string;
}

export class AckLedger<S> {
  readonly #cumulative: (subscription: S) => boolean;
  /** message-id → its delivery, for every subscription. */
  readonly #pending = new Map<string, Pending<S>>();
  /** Per cumulative subscription: its message-ids in delivery order. */
  readonly #ordered = new Map<S, Set<string>>();

  /** `cumulative` tells the subscriptions whose ACK and NACK cover every earlier delivery. */
  constructor(cumulative: (subscription: S) => boolean) {
    this.#cumulative = cumulative;
  }

  /** Records a MESSAGE awaiting its ACK or NACK. */
  record(subscription: S, messageId: string, deliveryId: string): void {
    this.#pending.set(messageId, { subscription, deliveryId });
    if (!this.#cumulative(subscription)) return;
    let ordered = this.#ordered.get(subscription);
    if (ordered === undefined) {
      ordered = new Set();
      this.#ordered.set(subscription, ordered);
    }
    ordered.add(messageId);
  }

  /**
   * Removes and returns what `messageId` settles, or undefined when it is
   * unknown (settled already, or never sent for a client-ack subscription).
   */
  settle(messageId: string): Settled<S> | undefined {
    const pending = this.#pending.get(messageId);
    if (pending === undefined) return undefined;
    const { subscription } = pending;
    const ordered = this.#ordered.get(subscription);
    if (ordered === undefined) {
      this.#pending.delete(messageId);
      return { subscription, deliveryIds: [pending.deliveryId] };
    }
    const deliveryIds: string[] = [];
    for (const id of ordered) {
      deliveryIds.push((this.#pending.get(id) as Pending<S>).deliveryId);
      this.#pending.delete(id);
      ordered.delete(id);
      if (id === messageId) break;
    }
    return { subscription, deliveryIds };
  }

  /** Forgets every pending message of `subscription` (it closed; the queue takes them back). */
  forget(subscription: S): void {
    this.#ordered.delete(subscription);
    for (const [id, pending] of this.#pending) if (pending.subscription === subscription) this.#pending.delete(id);
  }

  /** Forgets everything. */
  clear(): void {
    this.#pending.clear();
    this.#ordered.clear();
  }
}
