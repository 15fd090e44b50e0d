/**
 * A minimal STOMP 1.2 client on a raw `net` socket for the load generator,
 * built like `mqtt-raw.ts` so the generator stays cheap next to the broker:
 * SEND frames are built once and patched in place in reused batch buffers,
 * a window of frames leaves in one `write()`, ACKs of one event-loop turn
 * leave in one write, and received frames are scanned in place by an
 * incremental, bounded parser that hands a reused view to its sink.
 *
 * It measures the broker from outside like any client: nothing here comes
 * from `protocols/`. It reads only what a broker sends (CONNECTED, RECEIPT,
 * MESSAGE, ERROR and heart-beat EOLs).
 */

import net from 'node:net';
import { PAYLOAD_MIN_BYTES, PAYLOAD_PUBLISHER_OFFSET, PAYLOAD_SENT_AT_OFFSET, PAYLOAD_SEQ_OFFSET } from './mqtt-raw.js';
import { BatchPool } from './batch-pool.js';

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const COLON = 0x3a;
const BACKSLASH = 0x5c;

/** The frames a broker sends. */
export type ServerCommand = 'CONNECTED' | 'RECEIPT' | 'MESSAGE' | 'ERROR';
const SERVER_COMMANDS: ReadonlyArray<readonly [ServerCommand, Buffer]> = (['MESSAGE', 'RECEIPT', 'CONNECTED', 'ERROR'] as const).map(
  (name) => [name, Buffer.from(name, 'latin1')] as const,
);
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');

/** Why the parser gave up: the broker sent something that is not a STOMP frame, or one past the limits. */
export class StompParseError extends Error {
  override readonly name = 'StompParseError';
  constructor(
    readonly code: 'BENCH_STOMP_MALFORMED' | 'BENCH_STOMP_LIMIT',
    message: string,
  ) {
    super(message);
  }
}

export interface StompParserLimits {
  /** Largest frame, command line through NUL, bytes (default 1,114,112). */
  readonly maxFrameBytes?: number;
  /** Most header lines in one frame (default 128). */
  readonly maxHeaders?: number;
}

/**
 * One received frame, as offsets into the bytes it arrived in. The parser
 * reuses one view for every frame: it is valid only during the sink call;
 * copy out (`header()`, `body()`) what must outlive it.
 */
export class StompFrameView {
  command: ServerCommand = 'MESSAGE';
  /** The bytes the frame lies in; only `[frameStart, bodyEnd]` belongs to it. */
  data: Buffer = Buffer.alloc(0);
  headerCount = 0;
  bodyStart = 0;
  bodyEnd = 0;
  /** Per header: name start, name end, value start, value end (raw, still escaped). */
  readonly offsets: Int32Array;

  constructor(maxHeaders: number) {
    this.offsets = new Int32Array(maxHeaders * 4);
  }

  /** Index of the first header called `name` (STOMP 1.2 "Repeated Header Entries": the first wins), or -1. */
  indexOf(name: Buffer): number {
    const { data, offsets } = this;
    for (let h = 0; h < this.headerCount; h++) {
      const start = offsets[h * 4] as number;
      if ((offsets[h * 4 + 1] as number) - start !== name.length) continue;
      let same = true;
      for (let i = 0; i < name.length; i++) {
        if (data[start + i] !== name[i]) {
          same = false;
          break;
        }
      }
      if (same) return h;
    }
    return -1;
  }

  valueStart(index: number): number {
    return this.offsets[index * 4 + 2] as number;
  }

  valueEnd(index: number): number {
    return this.offsets[index * 4 + 3] as number;
  }

  /** The first value of header `name`, unescaped (CONNECTED is never escaped), or undefined. */
  header(name: string): string | undefined {
    const index = this.indexOf(Buffer.from(name, 'utf8'));
    if (index === -1) return undefined;
    const text = this.data.toString('utf8', this.valueStart(index), this.valueEnd(index));
    return this.command === 'CONNECTED' ? text : unescapeValue(text);
  }

  /** Every header in wire order, unescaped. Allocates: for tests and rare frames. */
  headers(): Array<[string, string]> {
    const list: Array<[string, string]> = [];
    for (let h = 0; h < this.headerCount; h++) {
      const o = h * 4;
      const name = this.data.toString('utf8', this.offsets[o] as number, this.offsets[o + 1] as number);
      const value = this.data.toString('utf8', this.offsets[o + 2] as number, this.offsets[o + 3] as number);
      list.push(this.command === 'CONNECTED' ? [name, value] : [unescapeValue(name), unescapeValue(value)]);
    }
    return list;
  }

  /** A copy of the body. */
  body(): Buffer {
    return Buffer.from(this.data.subarray(this.bodyStart, this.bodyEnd));
  }
}

// STOMP 1.2 "Value Encoding": \r \n \c \\ are the only escapes.
function unescapeValue(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\(.)/g, (whole, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 'c' ? ':' : c === '\\' ? '\\' : whole));
}

/** Where the parser sends what it completes. */
export interface StompSink {
  /** A whole frame; `frame` is reused after the call returns. */
  frame(frame: StompFrameView): void;
  /** An EOL between frames: a heart-beat. */
  heartbeat(): void;
}

/**
 * Incremental parser for the frames a broker sends: any slice of the stream
 * in, completed frames and heart-beats out to the sink, in order. Bounded:
 * a frame longer than `maxFrameBytes` or with more than `maxHeaders` header
 * lines is refused as soon as that is known. A body is framed by the first
 * `content-length` header when there is one, else by the first NUL.
 */
export class StompParser {
  readonly #sink: StompSink;
  readonly #maxFrameBytes: number;
  readonly #maxHeaders: number;
  readonly #view: StompFrameView;
  /** Unparsed bytes: the start of a frame (or a CR) whose rest has not arrived. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Bytes the pending frame needs at least before another scan can complete it. */
  #needBytes = 0;

  constructor(sink: StompSink, limits: StompParserLimits = {}) {
    this.#sink = sink;
    this.#maxFrameBytes = limits.maxFrameBytes ?? 1_114_112;
    this.#maxHeaders = limits.maxHeaders ?? 128;
    this.#view = new StompFrameView(this.#maxHeaders);
  }

  /**
   * Feeds the next bytes of the stream.
   * @throws StompParseError BENCH_STOMP_MALFORMED | BENCH_STOMP_LIMIT; the parser is unusable afterwards.
   */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    let data = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      // A long body arriving in many chunks is joined once, not rescanned per chunk.
      if (this.#pendingBytes < this.#needBytes) return;
      data = this.#pending.length === 2 ? Buffer.concat(this.#pending, this.#pendingBytes) : Buffer.concat(this.#pending);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    const end = data.length;
    let pos = 0;
    this.#needBytes = 0;
    while (pos < end) {
      const byte = data[pos] as number;
      if (byte === LF) {
        this.#sink.heartbeat();
        pos++;
        continue;
      }
      if (byte === CR) {
        if (pos + 1 >= end) break;
        if (data[pos + 1] !== LF) throw new StompParseError('BENCH_STOMP_MALFORMED', 'CR not followed by LF between frames');
        this.#sink.heartbeat();
        pos += 2;
        continue;
      }
      const next = this.#frame(data, pos, end);
      if (next < 0) break;
      pos = next;
    }
    if (pos < end) {
      const rest = data.subarray(pos);
      this.#pending.push(rest);
      this.#pendingBytes = rest.length;
      if (this.#needBytes <= rest.length) this.#needBytes = rest.length + 1;
    } else {
      this.#needBytes = 0;
    }
  }

  /** Parses the frame at `start`; returns the offset after its NUL, or -1 when incomplete (with `#needBytes` set). */
  #frame(data: Buffer, start: number, end: number): number {
    const available = end - start;
    const tooLong = (): StompParseError =>
      new StompParseError('BENCH_STOMP_LIMIT', `frame longer than ${this.#maxFrameBytes} bytes`);
    const incomplete = (needBytes: number): number => {
      if (available > this.#maxFrameBytes || needBytes > this.#maxFrameBytes) throw tooLong();
      this.#needBytes = needBytes;
      return -1;
    };
    let lf = data.indexOf(LF, start);
    if (lf === -1 || lf >= end) return incomplete(available + 1);
    const view = this.#view;
    view.command = commandAt(data, start, lf > start && data[lf - 1] === CR ? lf - 1 : lf);
    view.data = data;
    view.headerCount = 0;
    const offsets = view.offsets;
    for (;;) {
      const lineStart = lf + 1;
      lf = data.indexOf(LF, lineStart);
      if (lf === -1 || lf >= end) return incomplete(available + 1);
      const lineEnd = lf > lineStart && data[lf - 1] === CR ? lf - 1 : lf;
      if (lineEnd === lineStart) break;
      if (view.headerCount === this.#maxHeaders) throw new StompParseError('BENCH_STOMP_LIMIT', `more than ${this.#maxHeaders} headers`);
      const colon = data.indexOf(COLON, lineStart);
      if (colon === -1 || colon >= lineEnd || colon === lineStart) {
        throw new StompParseError('BENCH_STOMP_MALFORMED', 'header line without a name and a colon');
      }
      const o = view.headerCount++ * 4;
      offsets[o] = lineStart;
      offsets[o + 1] = colon;
      offsets[o + 2] = colon + 1;
      offsets[o + 3] = lineEnd;
    }
    const bodyStart = lf + 1;
    let bodyEnd: number;
    const lengthHeader = view.indexOf(CONTENT_LENGTH);
    if (lengthHeader !== -1) {
      const length = digitsAt(data, view.valueStart(lengthHeader), view.valueEnd(lengthHeader));
      bodyEnd = bodyStart + length;
      if (bodyEnd + 1 - start > this.#maxFrameBytes) throw tooLong();
      if (bodyEnd >= end) return incomplete(bodyEnd + 1 - start);
      if (data[bodyEnd] !== NUL) throw new StompParseError('BENCH_STOMP_MALFORMED', 'no NUL after content-length bytes of body');
    } else {
      bodyEnd = data.indexOf(NUL, bodyStart);
      if (bodyEnd === -1 || bodyEnd >= end) return incomplete(available + 1);
    }
    if (bodyEnd + 1 - start > this.#maxFrameBytes) throw tooLong();
    view.bodyStart = bodyStart;
    view.bodyEnd = bodyEnd;
    this.#sink.frame(view);
    return bodyEnd + 1;
  }
}

function commandAt(data: Buffer, start: number, end: number): ServerCommand {
  for (const [name, bytes] of SERVER_COMMANDS) {
    if (end - start !== bytes.length) continue;
    let same = true;
    for (let i = 0; i < bytes.length; i++) {
      if (data[start + i] !== bytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return name;
  }
  const shown = JSON.stringify(data.toString('latin1', start, Math.min(end, start + 40)));
  throw new StompParseError('BENCH_STOMP_MALFORMED', `not a server command: ${shown}`);
}

/** A non-negative decimal integer from `data[start, end)`. @throws StompParseError on anything but digits. */
export function digitsAt(data: Buffer, start: number, end: number): number {
  if (end <= start || end - start > 15) throw new StompParseError('BENCH_STOMP_MALFORMED', 'expected a decimal number');
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = (data[i] as number) - 0x30;
    if (digit < 0 || digit > 9) throw new StompParseError('BENCH_STOMP_MALFORMED', 'expected a decimal number');
    value = value * 10 + digit;
  }
  return value;
}

// ---------------------------------------------------------------------------
// The client

export interface StompConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly login?: string;
  readonly passcode?: string;
  /** Give up on TCP connect + CONNECTED after this long, ms (default 10,000). */
  readonly timeoutMs?: number;
}

export interface SubscribeOptions {
  readonly id: string;
  readonly destination: string;
  readonly ack: 'auto' | 'client' | 'client-individual';
  /** `prefetch-count` header; omitted when undefined. */
  readonly prefetch?: number;
}

interface ReceiptWaiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Receipt ids the client makes for its own control frames start with this, so they never look like a sender's numbers. */
const CONTROL_RECEIPT_PREFIX = 'c-';

/**
 * One STOMP 1.2 connection, heart-beats off (`0,0`). Use `RawStompClient.connect()`.
 * Hooks get the parser's reused view: read what you need during the call.
 */
export class RawStompClient implements StompSink {
  readonly socket: net.Socket;
  /** Every MESSAGE. */
  onMessage: ((frame: StompFrameView) => void) | undefined;
  /** Every RECEIPT whose id starts with a digit (a `Sender`'s); the client's own are handled inside. */
  onReceipt: ((frame: StompFrameView) => void) | undefined;
  /** After each received chunk has been parsed. */
  onChunkEnd: (() => void) | undefined;
  /** Why the connection ended: a socket error, an ERROR frame from the broker, a parse error. */
  error: Error | undefined;
  /** `session` header of CONNECTED. */
  session = '';

  readonly #parser: StompParser;
  readonly #receipts = new Map<string, ReceiptWaiter>();
  #connected: ReceiptWaiter | undefined;
  #closed = false;
  #nextControl = 1;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.#parser = new StompParser(this);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#parser.push(chunk);
      } catch (err) {
        this.#fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.onChunkEnd?.();
    });
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => {
      this.#closed = true;
      this.#fail(this.error ?? new Error('connection closed'));
    });
  }

  /**
   * Opens a TCP connection, sends CONNECT (1.2, heart-beat 0,0) and waits for CONNECTED.
   * @throws Error when the connection fails, times out, or the broker answers ERROR.
   */
  static async connect(options: StompConnectOptions): Promise<RawStompClient> {
    const socket = net.connect({ host: options.host, port: options.port, noDelay: true });
    const client = new RawStompClient(socket);
    const timeoutMs = options.timeoutMs ?? 10_000;
    const timer = setTimeout(() => client.#fail(new Error(`CONNECTED not received within ${timeoutMs} ms`)), timeoutMs);
    try {
      const connected = new Promise<void>((resolve, reject) => {
        client.#connected = { resolve, reject };
      });
      const headers: Array<[string, string]> = [
        ['accept-version', '1.2'],
        ['host', options.host],
        ['heart-beat', '0,0'],
      ];
      if (options.login !== undefined) headers.push(['login', options.login]);
      if (options.passcode !== undefined) headers.push(['passcode', options.passcode]);
      // CONNECT is never escaped (STOMP 1.2 "Value Encoding").
      socket.write(buildFrame('CONNECT', headers, undefined, false));
      await connected;
      return client;
    } catch (err) {
      socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Subscribes and waits for the broker's RECEIPT, so the subscription is in place before load starts.
   * @throws Error when the broker answers ERROR or the connection ends first.
   */
  async subscribe(options: SubscribeOptions): Promise<void> {
    const headers: Array<[string, string]> = [
      ['id', options.id],
      ['destination', options.destination],
      ['ack', options.ack],
    ];
    if (options.prefetch !== undefined) headers.push(['prefetch-count', String(options.prefetch)]);
    await this.request('SUBSCRIBE', headers);
  }

  /**
   * Sends one control frame with a `receipt` header and waits for that RECEIPT.
   * @throws Error when the broker answers ERROR or the connection ends first.
   */
  request(command: string, headers: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const id = `${CONTROL_RECEIPT_PREFIX}${this.#nextControl++}`;
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(this.error ?? new Error('connection closed'));
        return;
      }
      this.#receipts.set(id, { resolve, reject });
      this.socket.write(buildFrame(command, [...headers, ['receipt', id]]));
    });
  }

  /** Sends DISCONNECT with a receipt, waits for it (at most 1 s), then closes. */
  async disconnect(): Promise<void> {
    if (this.#closed) return;
    await Promise.race([this.request('DISCONNECT', []).catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000))]);
    this.socket.destroy();
  }

  /** Closes the socket at once. */
  destroy(): void {
    this.socket.destroy();
  }

  /** @internal StompSink */
  frame(frame: StompFrameView): void {
    switch (frame.command) {
      case 'MESSAGE':
        this.onMessage?.(frame);
        return;
      case 'RECEIPT': {
        const index = frame.indexOf(RECEIPT_ID);
        if (index === -1) return;
        const first = frame.data[frame.valueStart(index)] ?? 0;
        if (first >= 0x30 && first <= 0x39) {
          this.onReceipt?.(frame);
          return;
        }
        const id = frame.header('receipt-id') ?? '';
        const waiter = this.#receipts.get(id);
        this.#receipts.delete(id);
        waiter?.resolve();
        return;
      }
      case 'CONNECTED':
        this.session = frame.header('session') ?? '';
        this.#connected?.resolve();
        this.#connected = undefined;
        return;
      case 'ERROR': {
        const message = frame.header('message') ?? 'no message header';
        const body = frame.data.toString('utf8', frame.bodyStart, Math.min(frame.bodyEnd, frame.bodyStart + 200));
        this.#fail(new Error(`broker sent ERROR: ${message}${body === '' ? '' : ` (${body.trim()})`}`));
        return;
      }
    }
  }

  /** @internal StompSink */
  heartbeat(): void {
    // Heart-beats are off; an EOL between frames is harmless.
  }

  #fail(err: Error): void {
    this.error ??= err;
    this.#connected?.reject(this.error);
    this.#connected = undefined;
    for (const waiter of this.#receipts.values()) waiter.reject(this.error);
    this.#receipts.clear();
    if (!this.#closed) this.socket.destroy();
  }
}

const RECEIPT_ID = Buffer.from('receipt-id', 'latin1');
const ACK_HEADER = Buffer.from('ack', 'latin1');

/** STOMP 1.2 "Value Encoding" for a frame other than CONNECT/CONNECTED. */
function escapeValue(text: string): string {
  return text.replace(/[\\\r\n:]/g, (c) => (c === '\\' ? '\\\\' : c === '\r' ? '\\r' : c === '\n' ? '\\n' : '\\c'));
}

/** One frame as bytes: command, headers, blank line, body, NUL. */
export function buildFrame(
  command: string,
  headers: ReadonlyArray<readonly [string, string]>,
  body?: Buffer,
  escape = true,
): Buffer {
  const lines = headers.map(([name, value]) => (escape ? `${escapeValue(name)}:${escapeValue(value)}` : `${name}:${value}`));
  const head = Buffer.from(`${command}\n${lines.map((line) => `${line}\n`).join('')}\n`, 'utf8');
  return Buffer.concat([head, body ?? Buffer.alloc(0), Buffer.from([NUL])]);
}

// ---------------------------------------------------------------------------
// Producer and consumer

export interface SenderOptions {
  readonly destination: string;
  /** Body size, bytes; at least `PAYLOAD_MIN_BYTES` (same layout as the MQTT bench payload). */
  readonly bodyBytes: number;
  /** Written into each body so a receiver can tell senders apart. */
  readonly senderIndex: number;
  /** Most SEND frames in one socket write. */
  readonly batchSize: number;
  /** Extra headers on every SEND (e.g. `persistent:true`). */
  readonly headers?: ReadonlyArray<readonly [string, string]>;
}

/** Digits of the receipt id: fixed width, so it is patched in place. */
const RECEIPT_DIGITS = 10;

/**
 * Sends numbered SEND frames, each with a `receipt` that is its sequence
 * number, zero-padded: the frame is built once and each send patches the
 * receipt id, sequence number and send time in a reused batch buffer,
 * released for reuse only when its write has completed. Counts RECEIPTs,
 * which the broker sends in frame order ("RECEIPT").
 */
export class Sender {
  /** SEND frames written so far; also the next sequence number. */
  sent = 0;
  /** RECEIPTs received so far. */
  receipted = 0;
  /** RECEIPTs whose id was not the next one expected. */
  receiptsOutOfOrder = 0;
  readonly #client: RawStompClient;
  readonly #batches: BatchPool;
  readonly #receiptOffset: number;
  readonly #bodyOffset: number;

  /** @throws RangeError when the body is too small for the sequence fields. */
  constructor(client: RawStompClient, options: SenderOptions) {
    if (options.bodyBytes < PAYLOAD_MIN_BYTES) {
      throw new RangeError(`bodyBytes must be at least ${PAYLOAD_MIN_BYTES}, got ${options.bodyBytes}`);
    }
    this.#client = client;
    const body = Buffer.alloc(options.bodyBytes, 0x2e);
    body.writeUInt32BE(options.senderIndex, PAYLOAD_PUBLISHER_OFFSET);
    const placeholder = '0'.repeat(RECEIPT_DIGITS);
    const template = buildFrame(
      'SEND',
      [
        ['destination', options.destination],
        ...(options.headers ?? []),
        ['content-length', String(options.bodyBytes)],
        ['receipt', placeholder],
      ],
      body,
    );
    this.#batches = new BatchPool(template, options.batchSize);
    this.#bodyOffset = template.length - 1 - options.bodyBytes;
    this.#receiptOffset = template.indexOf(`receipt:${placeholder}\n`) + 'receipt:'.length;
    client.onReceipt = (frame) => {
      const index = frame.indexOf(RECEIPT_ID);
      const id = digitsAt(frame.data, frame.valueStart(index), frame.valueEnd(index));
      if (id !== this.receipted) this.receiptsOutOfOrder++;
      this.receipted++;
    };
  }

  /** SENDs written and not yet receipted. */
  get inflight(): number {
    return this.sent - this.receipted;
  }

  /**
   * Writes `count` (≤ batch size) SEND frames in one socket write, all stamped with the current time.
   * @returns the socket's `write()` result: false means wait for 'drain'.
   */
  send(count: number): boolean {
    const batches = this.#batches;
    const n = Math.min(count, batches.batchSize);
    if (n <= 0) return true;
    const batch = batches.take();
    const sentAtMs = performance.now();
    const size = batches.unitBytes;
    for (let i = 0; i < n; i++) {
      const seq = this.sent++;
      const at = i * size;
      writeDigits(batch, at + this.#receiptOffset, RECEIPT_DIGITS, seq);
      batch.writeUInt32BE(seq >>> 0, at + this.#bodyOffset + PAYLOAD_SEQ_OFFSET);
      batch.writeDoubleBE(sentAtMs, at + this.#bodyOffset + PAYLOAD_SENT_AT_OFFSET);
    }
    if (this.#client.closed) return false;
    return this.#client.socket.write(batches.slice(batch, n), batch.release);
  }
}

function writeDigits(target: Buffer, at: number, width: number, value: number): void {
  let rest = value;
  for (let i = width - 1; i >= 0; i--) {
    target[at + i] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
}

const ACK_PREFIX = Buffer.from('ACK\nid:', 'latin1');
const ACK_SUFFIX = Buffer.from('\n\n\0', 'latin1');

/**
 * ACKs MESSAGEs of a `client-individual` subscription (STOMP 1.2: `id` is
 * the MESSAGE's `ack` header). The raw, still escaped, header bytes are
 * copied into one buffer per event-loop turn, which leaves in one write:
 * escaping is the same both ways, so the id reaches the broker unchanged.
 */
export class Acker {
  /** ACK frames written so far. */
  acked = 0;
  readonly #client: RawStompClient;
  #buffer: Buffer = Buffer.allocUnsafe(64 * 1024);
  readonly #free: Buffer[] = [];
  #used = 0;
  #pendingAcks = 0;
  readonly #flush = (): void => this.#write();

  constructor(client: RawStompClient) {
    this.#client = client;
  }

  /** Queues the ACK for `frame` (a MESSAGE). @throws Error when it has no `ack` header (not a client-ack subscription). */
  add(frame: StompFrameView): void {
    const index = frame.indexOf(ACK_HEADER);
    if (index === -1) throw new Error('MESSAGE without an ack header');
    const start = frame.valueStart(index);
    const end = frame.valueEnd(index);
    const need = ACK_PREFIX.length + (end - start) + ACK_SUFFIX.length;
    if (this.#used + need > this.#buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.#buffer.length, this.#used + need));
      this.#buffer.copy(grown, 0, 0, this.#used);
      this.#buffer = grown;
    }
    let at = this.#used;
    at += ACK_PREFIX.copy(this.#buffer, at);
    at += frame.data.copy(this.#buffer, at, start, end);
    at += ACK_SUFFIX.copy(this.#buffer, at);
    this.#used = at;
    if (this.#pendingAcks++ === 0) setImmediate(this.#flush);
  }

  #write(): void {
    const used = this.#used;
    const count = this.#pendingAcks;
    this.#used = 0;
    this.#pendingAcks = 0;
    if (count === 0 || this.#client.closed) return;
    // The socket may still hold the bytes: this buffer is reused only once its write has completed.
    const full = this.#buffer;
    this.#buffer = this.#free.pop() ?? Buffer.allocUnsafe(full.length);
    this.#client.socket.write(full.subarray(0, used), () => {
      if (this.#free.length < 4) this.#free.push(full);
    });
    this.acked += count;
  }
}
