import { connect as netConnect, type Socket } from 'node:net';

/** A TCP connection to the test broker on 127.0.0.1, once it is established. */
export async function openSocket(port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  return socket;
}

/**
 * What a raw test peer received on one socket, in order, and waits on it:
 * `next` takes the first item of a kind (leaving the others), `closed`
 * waits for the broker to close the connection.
 */
export class SocketInbox<T> {
  readonly items: T[] = [];
  readonly #kindOf: (item: T) => string;
  readonly #noun: string;
  readonly #waiters: (() => void)[] = [];
  readonly #closedPromise: Promise<void>;
  #closed = false;

  constructor(socket: Socket, kindOf: (item: T) => string, noun: string) {
    this.#kindOf = kindOf;
    this.#noun = noun;
    this.#closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.#closed = true;
        this.wake();
        resolve();
      });
    });
  }

  push(item: T): void {
    this.items.push(item);
    this.wake();
  }

  /** Wakes waiters after something other than `push` changed (a decode error). */
  wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  get closedPromise(): Promise<void> {
    return this.#closedPromise;
  }

  /** The next item (of `kind`, when given); rejects on close or after `timeoutMs`. */
  async next(kind: string | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.items.findIndex((item) => kind === undefined || this.#kindOf(item) === kind);
      if (at >= 0) return this.items.splice(at, 1)[0] as T;
      if (this.#closed) throw new Error(`connection closed while waiting for ${kind ?? `a ${this.#noun}`}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${kind ?? this.#noun} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves when the broker has closed the connection; rejects after `timeoutMs`. */
  async closed(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.#closedPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
