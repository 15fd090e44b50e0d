/**
 * The open transactions of one STOMP connection (STOMP 1.2 "BEGIN",
 * "COMMIT", "ABORT"): frames buffered per transaction, handed back in arrival
 * order at COMMIT, dropped at ABORT. Bounded; no I/O.
 */

import { RoostError } from '../../src/core/errors.js';
import { shown, violation } from './frame-rules.js';

export interface TransactionLimits {
  /** Transactions open at once. */
  readonly maxTransactions: number;
  /** Frames one transaction may buffer. */
  readonly maxTransactionFrames: number;
}

export class Transactions<T> {
  readonly #open = new Map<string, T[]>();
  readonly #limits: TransactionLimits;

  constructor(limits: TransactionLimits) {
    this.#limits = limits;
  }

  /** @throws RoostError STOMP_PROTOCOL_VIOLATION when `id` is open; STOMP_LIMIT_EXCEEDED past maxTransactions. */
  begin(id: string): void {
    if (this.#open.has(id)) throw violation(`transaction ${shown(id)} is already open`);
    if (this.#open.size >= this.#limits.maxTransactions) {
      throw new RoostError('STOMP_LIMIT_EXCEEDED', `a connection may have at most ${this.#limits.maxTransactions} open transactions`);
    }
    this.#open.set(id, []);
  }

  /** @throws RoostError STOMP_PROTOCOL_VIOLATION when `id` is not open; STOMP_LIMIT_EXCEEDED past maxTransactionFrames. */
  add(id: string, item: T): void {
    const items = this.#open.get(id);
    if (items === undefined) throw violation(`transaction ${shown(id)} is not open`);
    if (items.length >= this.#limits.maxTransactionFrames) {
      throw new RoostError('STOMP_LIMIT_EXCEEDED', `a transaction may hold at most ${this.#limits.maxTransactionFrames} frames`);
    }
    items.push(item);
  }

  /**
   * Ends transaction `id` for COMMIT and returns its frames in arrival order.
   * @throws RoostError STOMP_PROTOCOL_VIOLATION when `id` is not open.
   */
  commit(id: string): readonly T[] {
    const items = this.#open.get(id);
    if (items === undefined) throw violation(`COMMIT of transaction ${shown(id)}, which is not open`);
    this.#open.delete(id);
    return items;
  }

  /** Drops transaction `id`. @throws RoostError STOMP_PROTOCOL_VIOLATION when `id` is not open. */
  abort(id: string): void {
    if (!this.#open.delete(id)) throw violation(`ABORT of transaction ${shown(id)}, which is not open`);
  }

  /** Drops every open transaction (the connection ended). */
  clear(): void {
    this.#open.clear();
  }
}
