import type { Socket } from 'node:net';
import stompit from 'stompit';
import type { Client as StompitClient, Message as StompitMessage, StompitHeaders } from 'stompit';
import { StompDecoder, encodeFrame, header } from '../../protocols/stomp/codec.js';
import type { StompFrame, StompVersion } from '../../protocols/stomp/codec.js';
import type { TestBroker } from './broker.js';
import { SocketInbox, openSocket } from './socket-inbox.js';

/**
 * A STOMP peer on a bare socket, for what well-behaved clients never send:
 * it writes any bytes and decodes every frame the broker answers with (the
 * codec's decoder, which follows the version named in CONNECTED).
 */
export class RawStomp {
  readonly socket: Socket;
  /** Heart-beat EOLs received. */
  heartbeats = 0;
  /** Set when the broker's bytes did not decode. */
  decodeError: unknown;
  readonly #inbox: SocketInbox<StompFrame>;
  readonly #decoder = new StompDecoder({ maxFrameBytes: 64 * 1024 * 1024, maxBodyBytes: 64 * 1024 * 1024 });

  private constructor(socket: Socket) {
    this.socket = socket;
    this.#inbox = new SocketInbox<StompFrame>(socket, (frame) => frame.command, 'frame');
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const event of this.#decoder.push(chunk)) {
          if (event.kind === 'heartbeat') this.heartbeats++;
          else this.#inbox.push(event.frame);
        }
      } catch (err) {
        this.decodeError = err;
      }
      this.#inbox.wake();
    });
  }

  static async open(port: number): Promise<RawStomp> {
    return new RawStomp(await openSocket(port));
  }

  /** Every frame received and not yet taken by `next`, in arrival order. */
  get frames(): StompFrame[] {
    return this.#inbox.items;
  }

  /** Opens a socket, sends CONNECT (`accept-version:1.2` unless given) and waits for CONNECTED. */
  static async connected(port: number, headers: Record<string, string> = {}): Promise<RawStomp> {
    const raw = await RawStomp.open(port);
    raw.send('CONNECT', { 'accept-version': '1.2', host: 'roost', ...headers });
    const answer = await raw.next();
    if (answer.command !== 'CONNECTED') {
      throw new Error(`CONNECT refused: ${header(answer, 'message') ?? answer.command}`);
    }
    return raw;
  }

  get isClosed(): boolean {
    return this.#inbox.isClosed;
  }

  /** The version the decoder follows (set by CONNECTED). */
  get version(): StompVersion {
    return this.#decoder.version;
  }

  writeRaw(bytes: Buffer | string): boolean {
    return this.socket.write(bytes);
  }

  /** Encodes and writes one frame under the negotiated version. */
  send(command: string, headers: Record<string, string> = {}, body: Buffer | string = ''): void {
    const frame: StompFrame = {
      command,
      headers: Object.entries(headers),
      body: typeof body === 'string' ? Buffer.from(body) : body,
    };
    this.socket.write(encodeFrame(frame, this.#decoder.version));
  }

  /** The next frame (of `command`, when given) the broker sent; rejects on close or timeout. */
  next(command?: string, timeoutMs = 5_000): Promise<StompFrame> {
    return this.#inbox.next(command, timeoutMs);
  }

  /**
   * Frames of `command` as they arrive, until none comes for `quietMs` or
   * `totalMs` has passed since the call, whichever is first.
   */
  async collect(command: string, quietMs: number, totalMs = Infinity): Promise<StompFrame[]> {
    const got: StompFrame[] = [];
    const deadline = Date.now() + totalMs;
    for (;;) {
      const left = Math.min(quietMs, deadline - Date.now());
      if (left <= 0) return got;
      try {
        got.push(await this.next(command, left));
      } catch {
        return got;
      }
    }
  }

  /** Resolves when the broker has closed the connection; rejects after `timeoutMs`. */
  closed(timeoutMs = 5_000): Promise<void> {
    return this.#inbox.closed(timeoutMs);
  }

  /** Destroys the socket. */
  async close(): Promise<void> {
    this.socket.destroy();
    await this.#inbox.closedPromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The STOMP port of a test broker.
 * @throws Error when the broker has no STOMP listener.
 */
export function stompPort(tb: TestBroker): number {
  if (tb.stompPort === 0) throw new Error('the test broker has no STOMP listener');
  return tb.stompPort;
}

/** Connects the stompit client (the legacy client the tests use as a well-behaved peer). */
export function stompitConnect(port: number, connectHeaders: StompitHeaders = {}): Promise<StompitClient> {
  return new Promise((resolve, reject) => {
    stompit.connect({ host: '127.0.0.1', port, connectHeaders: { host: 'roost', ...connectHeaders } }, (err, client) => {
      if (err) reject(err);
      else resolve(client);
    });
  });
}

/** Sends one message through stompit and resolves on its RECEIPT. */
export function stompitSend(client: StompitClient, headers: StompitHeaders, body: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    const frame = client.send(headers, { onReceipt: () => resolve(), onError: reject });
    frame.end(body);
  });
}

/** Reads a stompit message body whole. */
export function stompitBody(message: StompitMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    message.on('data', (chunk: Buffer) => chunks.push(chunk));
    message.once('end', () => resolve(Buffer.concat(chunks)));
    message.once('error', reject);
  });
}

/** Disconnects gracefully (DISCONNECT with receipt). */
export function stompitDisconnect(client: StompitClient): Promise<void> {
  return new Promise((resolve) => client.disconnect(() => resolve()));
}

/** Collects stompit messages of one subscription as they arrive. */
export class StompitInbox {
  readonly messages: Array<{ headers: Record<string, string>; body: Buffer; raw: StompitMessage }> = [];
  readonly #waiters: (() => void)[] = [];

  /** The subscription's message listener. */
  readonly listener = (err: Error | null, message: StompitMessage): void => {
    if (err) return;
    void stompitBody(message).then((body) => {
      this.messages.push({ headers: message.headers, body, raw: message });
      for (const wake of this.#waiters.splice(0)) wake();
    });
  };

  /** Waits until `count` messages have arrived in total. */
  async waitFor(count: number, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`only ${this.messages.length} of ${count} messages within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
