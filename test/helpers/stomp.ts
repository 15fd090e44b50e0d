import { connect as netConnect, type Socket } from 'node:net';
import stompit from 'stompit';
import type { Client as StompitClient, Message as StompitMessage, StompitHeaders } from 'stompit';
import { StompDecoder, encodeFrame, header } from '../../protocols/stomp/codec.js';
import type { StompFrame, StompVersion } from '../../protocols/stomp/codec.js';
import type { TestBroker } from './broker.js';

/**
 * A STOMP peer on a bare socket, for what well-behaved clients never send:
 * it writes any bytes and decodes every frame the broker answers with (the
 * codec's decoder, which follows the version named in CONNECTED).
 */
export class RawStomp {
  readonly socket: Socket;
  readonly frames: StompFrame[] = [];
  /** Heart-beat EOLs received. */
  heartbeats = 0;
  /** Set when the broker's bytes did not decode. */
  decodeError: unknown;
  readonly #waiters: (() => void)[] = [];
  readonly #decoder = new StompDecoder({ maxFrameBytes: 64 * 1024 * 1024, maxBodyBytes: 64 * 1024 * 1024 });
  #closed = false;
  readonly #closedPromise: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const event of this.#decoder.push(chunk)) {
          if (event.kind === 'heartbeat') this.heartbeats++;
          else this.frames.push(event.frame);
        }
      } catch (err) {
        this.decodeError = err;
      }
      this.#wake();
    });
    socket.on('error', () => undefined);
    this.#closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.#closed = true;
        this.#wake();
        resolve();
      });
    });
  }

  static async open(port: number): Promise<RawStomp> {
    const socket = netConnect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawStomp(socket);
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
    return this.#closed;
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
  async next(command?: string, timeoutMs = 5_000): Promise<StompFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.frames.findIndex((f) => command === undefined || f.command === command);
      if (at >= 0) return this.frames.splice(at, 1)[0] as StompFrame;
      if (this.#closed) throw new Error(`connection closed while waiting for ${command ?? 'a frame'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${command ?? 'frame'} within ${timeoutMs} ms`);
      await this.#wait(left);
    }
  }

  /** Resolves when the broker has closed the connection; rejects after `timeoutMs`. */
  async closed(timeoutMs = 5_000): Promise<void> {
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

  /** Destroys the socket. */
  async close(): Promise<void> {
    this.socket.destroy();
    await this.#closedPromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
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
