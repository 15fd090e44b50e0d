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

export class AckLedger<S> {
  /** message-id → its subscription. */
  readonly #owner = new Map<string, S>();
  /** Per subscription: message-id → delivery id, in delivery order. */
  readonly #pending = new Map<S, Map<string, string>>();

  /** Records a MESSAGE awaiting its ACK or NACK. */
  record(subscription: S, messageId: string, deliveryId: string): void {
    let pending = this.#pending.get(subscription);
    if (pending === undefined) {
      pending = new Map();
      this.#pending.set(subscription, pending);
    }
    pending.set(messageId, deliveryId);
    this.#owner.set(messageId, subscription);
  }

  /**
   * Removes and returns what `messageId` settles, or undefined when it is
   * unknown (settled already, or never sent for a client-ack subscription).
   */
  settle(messageId: string, cumulative: (subscription: S) => boolean): Settled<S> | undefined {
    const subscription = this.#owner.get(messageId);
    if (subscription === undefined) return undefined;
    const pending = this.#pending.get(subscription) as Map<string, string>;
    const deliveryIds: string[] = [];
    if (cumulative(subscription)) {
      for (const [id, deliveryId] of pending) {
        deliveryIds.push(deliveryId);
        pending.delete(id);
        this.#owner.delete(id);
        if (id === messageId) break;
      }
    } else {
      deliveryIds.push(pending.get(messageId) as string);
      pending.delete(messageId);
      this.#owner.delete(messageId);
    }
    return { subscription, deliveryIds };
  }

  /** Forgets every pending message of `subscription` (it closed; the queue takes them back). */
  forget(subscription: S): void {
    const pending = this.#pending.get(subscription);
    if (pending === undefined) return;
    for (const id of pending.keys()) this.#owner.delete(id);
    this.#pending.delete(subscription);
  }

  /** Forgets everything. */
  clear(): void {
    this.#owner.clear();
    this.#pending.clear();
  }
}
