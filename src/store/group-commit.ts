/**
 * Group commit: every write the store is asked for joins the next LevelDB
 * batch. While one batch is being written, new writes collect; when it lands
 * they all go out together as one `db.batch`. Each caller's promise settles
 * only when the batch holding its operations has been written (and, under
 * `fsync` durability, synced) — so an acknowledgement sent after `await` is
 * never ahead of the disk.
 *
 * Until its batch lands, a pending operation is visible through `pending()`,
 * so reads see the store's own writes without waiting for the disk.
 */

export type BatchOp =
  | { readonly type: 'put'; readonly key: string; readonly value: Buffer }
  | { readonly type: 'del'; readonly key: string };

/** Writes one batch; rejects when LevelDB refuses it. */
export type BatchWriter = (ops: BatchOp[]) => Promise<void>;

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

export interface GroupCommitStats {
  /** Batches written. */
  batches: number;
  /** Operations written across all batches. */
  ops: number;
  /** Largest batch written, operations. */
  largestBatch: number;
}

export class GroupCommit {
  readonly #write: BatchWriter;
  #ops: BatchOp[] = [];
  #waiters: Waiter[] = [];
  /** Latest not-yet-written operation per key. */
  readonly #overlay = new Map<string, BatchOp>();
  #inFlight: Promise<void> | undefined;
  #scheduled = false;
  #idleWaiters: Array<() => void> = [];
  readonly stats: GroupCommitStats = { batches: 0, ops: 0, largestBatch: 0 };

  constructor(write: BatchWriter) {
    this.#write = write;
  }

  /** Queues `ops` for the next batch; resolves once that batch is written. */
  submit(ops: readonly BatchOp[]): Promise<void> {
    if (ops.length === 0) return this.#inFlight || this.#ops.length > 0 ? this.#afterPending() : Promise.resolve();
    for (const op of ops) {
      this.#ops.push(op);
      this.#overlay.set(op.key, op);
    }
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#schedule();
    return done;
  }

  /**
   * Queues `ops` for the next batch without a promise to wait on: for writes
   * whose loss in a crash is harmless (an acknowledged entry's delete). A
   * failed batch is reported to the callers that wait, not here. `pending()`
   * shows them only over a pending write of the same key: the caller has
   * already dropped what it deletes from its own index, so nothing asks the
   * disk for it, and an acknowledgement spares the overlay's insert and delete.
   */
  submitDetached(ops: readonly BatchOp[]): void {
    if (ops.length === 0) return;
    for (const op of ops) {
      this.#ops.push(op);
      if (this.#overlay.has(op.key)) this.#overlay.set(op.key, op);
    }
    this.#schedule();
  }

  /**
   * The not-yet-written operation for `key`: a put (its value), a del
   * (`null`), or `undefined` when nothing is pending and the disk is current.
   */
  pending(key: string): Buffer | null | undefined {
    const op = this.#overlay.get(key);
    if (!op) return undefined;
    return op.type === 'put' ? op.value : null;
  }

  /** True when nothing is queued or being written. */
  get idle(): boolean {
    return !this.#inFlight && this.#ops.length === 0;
  }

  /** Resolves when every write submitted so far has landed (or failed). */
  flushed(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #afterPending(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#schedule();
    return done;
  }

  #schedule(): void {
    if (this.#inFlight || this.#scheduled) return;
    this.#scheduled = true;
    // A microtask, so writes requested in the same tick share the first batch too.
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#inFlight) return;
    const ops = this.#ops;
    const waiters = this.#waiters;
    if (waiters.length === 0 && ops.length === 0) {
      this.#notifyIdle();
      return;
    }
    this.#ops = [];
    this.#waiters = [];
    this.#inFlight = (ops.length > 0 ? this.#write(ops) : Promise.resolve()).then(
      () => {
        this.stats.batches++;
        this.stats.ops += ops.length;
        if (ops.length > this.stats.largestBatch) this.stats.largestBatch = ops.length;
        this.#settle(ops);
        for (const w of waiters) w.resolve();
      },
      (err: unknown) => {
        this.#settle(ops);
        for (const w of waiters) w.reject(err);
      },
    );
    void this.#inFlight.finally(() => {
      this.#inFlight = undefined;
      if (this.#ops.length > 0 || this.#waiters.length > 0) this.#flush();
      else this.#notifyIdle();
    });
  }

  #settle(ops: readonly BatchOp[]): void {
    // Only forget an overlay entry if no later write to the same key is queued.
    for (const op of ops) if (this.#overlay.get(op.key) === op) this.#overlay.delete(op.key);
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
