import { isUtf8 } from 'node:buffer';
import { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';

/** RFC 6455 §7.4.1 close codes the broker sends. */
export const WS_CLOSE = Object.freeze({
  normal: 1000,
  goingAway: 1001,
  /** Policy violation: used for a consumer that does not read. */
  policyViolation: 1008,
});

// After a close frame is queued, a peer that neither reads it nor closes gets this long.
const CLOSE_GRACE_MS = 5_000;

type CloseFrame = { readonly code: number; readonly reason: string };
const NORMAL_CLOSE: CloseFrame = { code: WS_CLOSE.normal, reason: '' };
/** A connection ended while its peer is not taking the broker's bytes: let go for being slow, whoever decided it. */
const SLOW_CLOSE: CloseFrame = { code: WS_CLOSE.policyViolation, reason: 'slow consumer: not reading' };

export interface WebSocketDuplexOptions {
  /**
   * `binary`: every write is one binary message (MQTT over WebSocket
   * requires binary frames [MQTT-6.0.0-1]); `text-if-utf8`: one text message
   * when the bytes are UTF-8, else binary (STOMP: one frame or heart-beat per
   * message, readable by clients that only take text).
   */
  readonly frames: 'binary' | 'text-if-utf8';
  /** Time a peer that stopped reading has to take the broker's bytes before it is closed with 1008, ms. */
  readonly drainTimeoutMs: number;
  /** Told once when the drain timer closes the connection (for the log). */
  readonly onSlowConsumer?: () => void;
  /** Told of a WebSocket-level error (bad frame, message too big); the close follows by itself. */
  readonly onError?: (err: Error) => void;
}

/**
 * A byte stream over one WebSocket, so the protocol engines (aedes, the STOMP
 * listener) see the same Duplex they get from a TCP socket: messages in are
 * bytes in (an MQTT packet may span messages, one message may hold several),
 * each `write` is one message out.
 *
 * Backpressure both ways: reading pauses the WebSocket when the consumer is
 * not keeping up; writing completes at once while the socket's buffer
 * (`bufferedAmount`) is under the high-water mark and only once the message
 * is flushed otherwise, so `write()` returns false and `'drain'` follows as
 * on a socket. A peer that keeps the buffer full for `drainTimeoutMs` is
 * closed with 1008, and so is one the protocol ends while it is not taking
 * bytes, or right after a last write made while it was not (the protocol's
 * goodbye: MQTT 5 DISCONNECT, STOMP ERROR), as the router's `disconnect`
 * slow-consumer policy does.
 */
export class WebSocketDuplex extends Duplex {
  readonly #ws: WebSocket;
  readonly #options: WebSocketDuplexOptions;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set by `closeWith`, or when the connection is ended while the peer is behind; normal closure otherwise. */
  #close: CloseFrame | undefined;
  #wroteWhileBehind = false;

  constructor(ws: WebSocket, options: WebSocketDuplexOptions) {
    super({ allowHalfOpen: false });
    this.#ws = ws;
    this.#options = options;
    ws.on('message', (data: RawData) => {
      if (!this.push(toBuffer(data))) ws.pause();
    });
    ws.on('error', (err: Error) => options.onError?.(err));
    ws.once('close', () => {
      this.#clearTimers();
      this.push(null);
      this.destroy();
    });
  }

  /** Ends the connection with `code` and `reason` (at most 123 bytes) instead of 1000. */
  closeWith(code: number, reason: string): void {
    this.#close = { code, reason };
    this.destroy();
  }

  /** From now on, an end of the stream by its protocol closes with `code` and `reason` instead of 1000. */
  endWith(code: number, reason: string): void {
    this.#close ??= { code, reason };
  }

  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    // A protocol's goodbye (MQTT DISCONNECT, STOMP ERROR) is its last write:
    // made while the peer is behind, the close that follows is for being slow.
    this.#wroteWhileBehind = this.#drainTimer !== undefined;
    // Writable.write sorts out which of its forms was used; an undefined argument is an absent one.
    return super.write(chunk, encoding as BufferEncoding, callback as (error: Error | null | undefined) => void);
  }

  override _read(): void {
    if (this.#ws.isPaused) this.#ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(chunk, callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    // MQTT: bytes written together (a corked packet, a batch of deliveries) go out as one message.
    if (this.#options.frames === 'binary') {
      this.#send(Buffer.concat(chunks.map(({ chunk }) => chunk)), callback);
      return;
    }
    // STOMP: one frame per message, as some clients expect.
    let at = 0;
    const next = (error?: Error | null): void => {
      if (error || at === chunks.length) callback(error);
      else this.#send((chunks[at++] as { chunk: Buffer }).chunk, next);
    };
    next();
  }

  #send(chunk: Buffer, callback: (error?: Error | null) => void): void {
    const ws = this.#ws;
    if (ws.readyState !== WebSocket.OPEN) {
      // Closing: the bytes have nowhere to go and the stream is about to end.
      callback();
      return;
    }
    const binary = this.#options.frames === 'binary' || !isUtf8(chunk);
    if (ws.bufferedAmount < this.writableHighWaterMark) {
      ws.send(chunk, { binary });
      callback();
      return;
    }
    // Full: complete this write only once it is flushed, so the Writable buffers and write() says false.
    this.#armDrainTimer();
    ws.send(chunk, { binary }, () => {
      this.#clearDrainTimer();
      callback();
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#wroteWhileBehind) this.#close ??= SLOW_CLOSE;
    this.#closeSocket();
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#drainTimer !== undefined || this.#wroteWhileBehind) this.#close ??= SLOW_CLOSE;
    this.#clearDrainTimer();
    this.#closeSocket();
    callback(err);
  }

  #closeSocket(): void {
    const ws = this.#ws;
    const { code, reason } = this.#close ?? NORMAL_CLOSE;
    if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
    else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    if (ws.readyState !== WebSocket.CLOSED && this.#graceTimer === undefined) {
      this.#graceTimer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
      this.#graceTimer.unref();
    }
  }

  #armDrainTimer(): void {
    if (this.#drainTimer !== undefined) return;
    this.#drainTimer = setTimeout(() => {
      this.#drainTimer = undefined;
      this.#options.onSlowConsumer?.();
      this.closeWith(WS_CLOSE.policyViolation, `slow consumer: did not drain within ${this.#options.drainTimeoutMs} ms`);
    }, this.#options.drainTimeoutMs);
    this.#drainTimer.unref();
  }

  #clearDrainTimer(): void {
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
  }

  #clearTimers(): void {
    this.#clearDrainTimer();
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
