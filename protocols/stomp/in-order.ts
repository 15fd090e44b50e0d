/**
 * Work that finishes out of order, answered in order (STOMP 1.2 "RECEIPT": a
 * receipt confirms that frame and every earlier one). Each frame whose effect
 * is still on its way (a SEND being routed or stored, an ACK being applied)
 * takes a slot; a slot is released once its own work and every earlier
 * slot's have settled. Constant time per slot, whatever is in flight. No I/O.
 */

interface Slot<T> {
  settled: boolean;
  readonly item: T;
  /** Call `released(item)` when the slot is released. */
  readonly answer: boolean;
  readonly bytes: number;
  /** A barrier (`idle`): resolved when released. */
  readonly resolve: (() => void) | undefined;
}

export interface InOrderCallbacks<T> {
  /** A slot taken with `answer` is released; called in slot order. Must not throw. */
  released(item: T): void;
  /** The work of a slot rejected; called at once, before the slot is released. Must not throw. */
  failed(err: unknown, item: T): void;
}

export class InOrder<T> {
  readonly #callbacks: InOrderCallbacks<T>;
  /** Unreleased slots, oldest first, from `#head` on. */
  #slots: Array<Slot<T>> = [];
  #head = 0;
  #bytes = 0;
  #releasing = false;
  #waiters: Array<{ readonly frames: number; readonly bytes: number; readonly resolve: () => void }> = [];

  constructor(callbacks: InOrderCallbacks<T>) {
    this.#callbacks = callbacks;
  }

  /** Slots not yet released: work in flight, or settled behind work that is. */
  get frames(): number {
    return this.#slots.length - this.#head;
  }

  /** Sum of the `bytes` of the unreleased slots. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Takes a slot for `work` on behalf of `item` (undefined work: nothing left
   * to wait for). With `answer`, `released(item)` runs once `work` and every
   * earlier slot have settled. `bytes` counts towards `bytes` until then.
   */
  add(work: PromiseLike<unknown> | undefined, item: T, answer: boolean, bytes = 0): void {
    const slot: Slot<T> = { settled: work === undefined, item, answer, bytes, resolve: undefined };
    this.#slots.push(slot);
    this.#bytes += bytes;
    if (work === undefined) {
      this.#release();
      return;
    }
    work.then(
      () => this.#settle(slot),
      (err: unknown) => {
        this.#callbacks.failed(err, item);
        this.#settle(slot);
      },
    );
  }

  /** Resolves once every slot taken so far is released. */
  idle(): Promise<void> {
    if (this.frames === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#slots.push({ settled: true, item: undefined as T, answer: false, bytes: 0, resolve });
    });
  }

  /** Resolves once no more than `frames` slots and `bytes` bytes are unreleased. */
  below(frames: number, bytes: number): Promise<void> {
    if (this.frames <= frames && this.#bytes <= bytes) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ frames, bytes, resolve }));
  }

  #settle(slot: Slot<T>): void {
    slot.settled = true;
    this.#release();
  }

  #release(): void {
    // A callback that takes a slot lands here again: the loop already running releases it.
    if (this.#releasing) return;
    this.#releasing = true;
    let released = false;
    try {
      for (let slot = this.#slots[this.#head]; slot?.settled === true; slot = this.#slots[this.#head]) {
        this.#head++;
        this.#bytes -= slot.bytes;
        released = true;
        if (slot.answer) this.#callbacks.released(slot.item);
        slot.resolve?.();
      }
    } finally {
      this.#releasing = false;
    }
    if (!released) return;
    if (this.#head === this.#slots.length) {
      this.#slots = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#slots.length) {
      this.#slots = this.#slots.slice(this.#head);
      this.#head = 0;
    }
    if (this.#waiters.length > 0) {
      const waiting = this.#waiters;
      this.#waiters = [];
      for (const w of waiting) {
        if (this.frames <= w.frames && this.#bytes <= w.bytes) w.resolve();
        else this.#waiters.push(w);
      }
    }
  }
}
