/**
 * STOMP 1.0, 1.1 and 1.2 bytes ⇄ frames. Pure: no sockets, timers or logger.
 *
 * The grammar (STOMP 1.2 "Augmented BNF"):
 *
 *     frame = command EOL *( header EOL ) EOL *OCTET NULL *( EOL )
 *     EOL   = [CR] LF
 *
 * EOLs outside a frame are heart-beats (STOMP 1.2 "Heart-beating"). `\r\n` is
 * accepted whatever the version, so a 1.0 or 1.1 client that ends its lines
 * with CRLF is read the way a 1.2 client would be; frames are written with LF,
 * which every version reads.
 */

import { isUtf8 } from 'node:buffer';
import { RoostError } from '../../src/core/errors.js';
import { escapeHeader, escapesHeaders, unescapeHeader } from './escape.js';
import { STOMP_VERSIONS, header, negotiateVersion } from './frame.js';
import type { Decoded, StompFrame, StompVersion } from './frame.js';

export { STOMP_VERSIONS, header, negotiateVersion } from './frame.js';
export type { Decoded, StompFrame, StompVersion } from './frame.js';

/** Bounds on one decoded frame. Each is a positive integer. */
export interface StompLimits {
  /** Largest frame, from the first byte of the command line through the NUL, bytes. */
  readonly maxFrameBytes: number;
  /** Most header lines in one frame, repeated names included. */
  readonly maxHeaders: number;
  /** Longest command or header line as received (escaped, EOL excluded), bytes. */
  readonly maxHeaderLineBytes: number;
  /** Largest body, bytes. */
  readonly maxBodyBytes: number;
}

/** Limits used for any the caller leaves out; the config schema may choose others. */
export const DEFAULT_STOMP_LIMITS: StompLimits = Object.freeze({
  maxFrameBytes: 1_114_112, // 1 MiB of body plus 64 KiB of headers
  maxHeaders: 128,
  maxHeaderLineBytes: 8_192,
  maxBodyBytes: 1_048_576,
});

/** Limits (each defaulting to `DEFAULT_STOMP_LIMITS`) and version rules for one decoder. */
export interface StompDecoderOptions extends Partial<StompLimits> {
  /** Header escaping rules until a CONNECT, STOMP or CONNECTED frame decides them; default `'1.2'`. */
  readonly version?: StompVersion;
  /** Versions a decoded CONNECT or STOMP frame may negotiate; default all of them. */
  readonly supportedVersions?: readonly StompVersion[];
}

/** One EOL: the heart-beat a peer sends when it has nothing else to say. Shared; do not write into it. */
export const HEARTBEAT_EOL: Buffer = Buffer.from('\n');

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
// Every STOMP command is ASCII letters; which ones exist is the session's business.
const COMMAND = /^[A-Za-z]+$/;
const DIGITS = /^[0-9]+$/;
// A line not yet ended costs at least its LF, the blank line's LF and the NUL.
const MIN_FRAME_TAIL_BYTES = 3;
// Past this the buffer is released once it is empty, so one large frame does not pin memory.
const RETAINED_BUFFER_BYTES = 65_536;
const HEARTBEAT: Decoded = Object.freeze({ kind: 'heartbeat' });
const EMPTY = Buffer.alloc(0);

type Phase = 'between-frames' | 'command' | 'headers' | 'body';

/**
 * Incremental STOMP decoder for one connection's byte stream.
 *
 * Memory is bounded by the limits and the largest chunk pushed: only the line
 * or body in progress is kept between pushes, in one growable buffer released
 * once it empties, and every byte is scanned once, so a frame arriving one byte
 * at a time costs linear time.
 *
 * After a CONNECT or STOMP frame the decoder switches to the version that frame
 * negotiates (see `negotiateVersion`), and after a CONNECTED frame to the one it
 * names, before decoding anything that follows in the same chunk. Set `version`
 * to override.
 */
export class StompDecoder {
  readonly #limits: StompLimits;
  readonly #supported: readonly StompVersion[];
  #version: StompVersion;
  #error: unknown;
  #failed = false;

  // Bytes not yet consumed, between pushes: #store[#start, #end).
  #store: Buffer = EMPTY;
  #start = 0;
  #end = 0;

  #phase: Phase = 'between-frames';
  // Bytes after the line or body start already searched for LF or NUL.
  #scanned = 0;
  #frameBytes = 0;
  #command = '';
  #headers: Array<readonly [string, string]> = [];
  #contentLength: number | undefined;
  /** Whether the command of the frame being read has escaped headers in versions that escape (not CONNECT). */
  #commandEscapes = false;
  // The first NUL at or after some position of `#nulData`, or -1 for none up to its end:
  // one search serves every line of a frame, as the NUL ending its body is usually the first ahead.
  #nulData: Buffer | undefined;
  #nulAt = -1;

  /** @throws RangeError when a limit is not a positive integer or a version is unknown. */
  constructor(options: StompDecoderOptions = {}) {
    const limits = { ...DEFAULT_STOMP_LIMITS };
    for (const key of Object.keys(DEFAULT_STOMP_LIMITS) as Array<keyof StompLimits>) {
      const value = options[key];
      if (value === undefined) continue;
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`StompDecoder: ${key} must be a positive integer, got ${String(value)}`);
      }
      limits[key] = value;
    }
    this.#limits = Object.freeze(limits);
    const supported = options.supportedVersions ?? STOMP_VERSIONS;
    for (const v of supported) checkVersion(v, 'supportedVersions');
    this.#supported = Object.freeze([...supported]);
    this.#version = checkVersion(options.version ?? '1.2', 'version');
  }

  /** The limits in force, defaults filled in. */
  get limits(): StompLimits {
    return this.#limits;
  }

  /** The version whose header escaping applies to the next frame decoded. */
  get version(): StompVersion {
    return this.#version;
  }

  /** @throws RangeError on an unknown version. */
  set version(version: StompVersion) {
    this.#version = checkVersion(version, 'version');
  }

  /**
   * Any slice of the stream in, the events it completes out, in stream order.
   * Frames completed earlier in a chunk that then fails are not returned: the
   * connection is ending with an ERROR, and only a RECEIPT promises anything.
   * Once it has thrown, the decoder is dead and every later call throws the same error.
   * @throws RoostError STOMP_FRAME_MALFORMED when the bytes break the grammar, an escape
   *   is undefined, or a command or header is not UTF-8; STOMP_LIMIT_EXCEEDED as soon as
   *   a limit is known to be passed.
   */
  push(chunk: Buffer): Decoded[] {
    if (this.#failed) throw this.#error;
    const out: Decoded[] = [];
    try {
      let data: Buffer;
      let pos: number;
      const pending = this.#start !== this.#end;
      if (!pending) {
        // Nothing pending: read the chunk where it lies and keep only its unfinished tail.
        data = chunk;
        pos = 0;
        this.#start = this.#end = 0;
      } else {
        this.#append(chunk);
        // A view ending where the bytes do, so searches stop there.
        data = this.#store.subarray(0, this.#end);
        pos = this.#start;
      }
      const end = data.length;
      pos = this.#parse(data, pos, end, out);
      this.#nulData = undefined;
      if (pending) {
        this.#start = pos;
      } else if (pos < end) {
        this.#append(data.subarray(pos, end));
      }
      if (this.#start === this.#end) {
        this.#start = this.#end = 0;
        if (this.#store.length > RETAINED_BUFFER_BYTES) this.#store = EMPTY;
      }
    } catch (err) {
      this.#failed = true;
      this.#error = err;
      this.#store = EMPTY;
      this.#start = this.#end = 0;
      throw err;
    }
    return out;
  }

  /** Appends to the pending bytes, compacting or doubling so that appends cost amortized linear time. */
  #append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const live = this.#end - this.#start;
    if (this.#end + bytes.length > this.#store.length) {
      const need = live + bytes.length;
      // Compact only when the consumed prefix is at least as long as what moves.
      if (need <= this.#store.length && this.#start >= live) {
        this.#store.copy(this.#store, 0, this.#start, this.#end);
      } else {
        const grown = Buffer.allocUnsafe(Math.max(need, this.#store.length * 2, 256));
        this.#store.copy(grown, 0, this.#start, this.#end);
        this.#store = grown;
      }
      this.#start = 0;
      this.#end = live;
    }
    bytes.copy(this.#store, this.#end);
    this.#end += bytes.length;
  }

  /** Decodes what it can of data[pos, end), where `end` is `data.length`; returns the first byte not consumed. */
  #parse(data: Buffer, pos: number, end: number, out: Decoded[]): number {
    for (;;) {
      switch (this.#phase) {
        case 'between-frames': {
          if (pos >= end) return pos;
          const byte = data[pos];
          if (byte === LF) {
            out.push(HEARTBEAT);
            pos += 1;
            continue;
          }
          if (byte === CR) {
            if (pos + 1 >= end) return pos;
            if (data[pos + 1] !== LF) throw malformed('a carriage return between frames is not followed by a line feed');
            out.push(HEARTBEAT);
            pos += 2;
            continue;
          }
          this.#phase = 'command';
          this.#frameBytes = 0;
          this.#scanned = 0;
          continue;
        }
        case 'command':
        case 'headers': {
          const lf = this.#findLineEnd(data, pos, end);
          if (lf < 0) return pos;
          const lineEnd = lf > pos && data[lf - 1] === CR ? lf - 1 : lf;
          this.#frameBytes += lf + 1 - pos;
          this.#scanned = 0;
          const lineStart = pos;
          pos = lf + 1;
          if (this.#phase === 'command') this.#onCommandLine(data, lineStart, lineEnd);
          else this.#onHeaderLine(data, lineStart, lineEnd);
          continue;
        }
        case 'body': {
          const length = this.#contentLength;
          if (length !== undefined) {
            // STOMP 1.2 "Header content-length": read exactly that many octets, NULs included.
            if (end - pos <= length) return pos;
            if (data[pos + length] !== NUL) {
              throw malformed(`the ${length}-byte body announced by content-length is not followed by a NUL`);
            }
            this.#emit(data.subarray(pos, pos + length), out);
            pos += length + 1;
            continue;
          }
          const nul = this.#nextNul(data, pos + this.#scanned);
          const bodyBytes = nul < 0 ? end - pos : nul - pos;
          this.#checkBody(bodyBytes);
          if (nul < 0) {
            this.#scanned = end - pos;
            return pos;
          }
          this.#emit(data.subarray(pos, pos + bodyBytes), out);
          pos += bodyBytes + 1;
          continue;
        }
      }
    }
  }

  /** Index of the LF ending the line that starts at `pos`, or -1 after checking the part seen so far. */
  #findLineEnd(data: Buffer, pos: number, end: number): number {
    const from = pos + this.#scanned;
    const found = data.indexOf(LF, from);
    const nul = this.#nextNul(data, from);
    if (nul >= 0 && (found < 0 || nul < found)) {
      // A NUL before the blank line ends a frame that has no header terminator.
      throw malformed(`a NUL arrived before the blank line that ends the headers`);
    }
    if (found >= 0) return found;
    this.#scanned = end - pos;
    const pending = end - pos;
    // The last byte may be the CR of a CRLF, which is not part of the line.
    const lineBytes = data[end - 1] === CR ? pending - 1 : pending;
    if (lineBytes > this.#limits.maxHeaderLineBytes) throw this.#lineTooLong();
    // Nothing but a CR yet may be the blank line itself, which leaves only its LF and the NUL to come.
    this.#checkFrame(pending + (lineBytes === 0 ? MIN_FRAME_TAIL_BYTES - 1 : MIN_FRAME_TAIL_BYTES));
    if (this.#phase === 'headers' && this.#headers.length >= this.#limits.maxHeaders && lineBytes > 0) {
      throw this.#tooManyHeaders();
    }
    return -1;
  }

  /** The first NUL in `data` at or after `from`, or -1 for none. */
  #nextNul(data: Buffer, from: number): number {
    if (data !== this.#nulData || (this.#nulAt >= 0 && this.#nulAt < from)) {
      this.#nulData = data;
      this.#nulAt = data.indexOf(NUL, from);
    }
    return this.#nulAt;
  }

  #onCommandLine(data: Buffer, start: number, end: number): void {
    if (end - start > this.#limits.maxHeaderLineBytes) throw this.#lineTooLong();
    // The command is ASCII if it is anything, so latin1 loses nothing the test would accept.
    const command = data.toString('latin1', start, end);
    if (!COMMAND.test(command)) throw malformed(`the command line ${shown(command)} is not a STOMP command`);
    this.#command = command;
    this.#commandEscapes = escapesHeaders(command, '1.2');
    this.#phase = 'headers';
    this.#checkFrame(MIN_FRAME_TAIL_BYTES - 1);
  }

  #onHeaderLine(data: Buffer, start: number, end: number): void {
    if (end === start) {
      this.#phase = 'body';
      this.#checkFrame((this.#contentLength ?? 0) + 1);
      return;
    }
    if (this.#headers.length >= this.#limits.maxHeaders) throw this.#tooManyHeaders();
    if (end - start > this.#limits.maxHeaderLineBytes) throw this.#lineTooLong();
    this.#checkFrame(MIN_FRAME_TAIL_BYTES - 1);
    // UTF-8 never uses 0x3a inside a multi-byte character, so the first ':' of the text is the first colon byte.
    const text = data.toString('utf8', start, end);
    const colon = text.indexOf(':');
    if (colon < 0) throw malformed('a header line has no colon');
    // Bytes that are not UTF-8 decode to U+FFFD; only then is it worth telling them from a real one.
    if (text.includes('\uFFFD') && !isUtf8(data.subarray(start, end))) throw malformed('a header is not valid UTF-8');
    // Split at the first colon: later colons belong to the value, as 1.0 and unescaped CONNECT values need.
    let name = text.slice(0, colon);
    let value = text.slice(colon + 1);
    const version = this.#version;
    if (version !== '1.0' && this.#commandEscapes) {
      name = unescapeHeader(name, version);
      value = unescapeHeader(value, version);
    }
    if (name.length === 0) throw malformed('a header has an empty name');
    this.#headers.push([name, value]);
    // STOMP 1.2 "Repeated Header Entries": the first content-length is the one that frames the body.
    if (name === 'content-length' && this.#contentLength === undefined) this.#onContentLength(value);
  }

  #onContentLength(value: string): void {
    if (!DIGITS.test(value)) throw malformed(`content-length ${shown(value)} is not a non-negative integer`);
    const length = Number(value);
    if (length > this.#limits.maxBodyBytes) {
      throw limitExceeded(`content-length ${shown(value)} exceeds maxBodyBytes (${this.#limits.maxBodyBytes})`);
    }
    this.#contentLength = length;
    // Still to come: the blank line's LF, the body, the NUL.
    this.#checkFrame(length + 2);
  }

  #checkBody(bodyBytes: number): void {
    if (bodyBytes > this.#limits.maxBodyBytes) {
      throw limitExceeded(`the body exceeds maxBodyBytes (${this.#limits.maxBodyBytes})`);
    }
    this.#checkFrame(bodyBytes + 1);
  }

  /** Throws when the frame so far plus `moreBytes` that must still come passes maxFrameBytes. */
  #checkFrame(moreBytes: number): void {
    if (this.#frameBytes + moreBytes > this.#limits.maxFrameBytes) throw this.#frameTooLarge();
  }

  #emit(body: Buffer, out: Decoded[]): void {
    // Copy the body so it does not pin the caller's chunk or alias the reused buffer.
    const frame: StompFrame = { command: this.#command, headers: this.#headers, body: Buffer.from(body) };
    out.push({ kind: 'frame', frame });
    this.#phase = 'between-frames';
    this.#headers = [];
    this.#contentLength = undefined;
    this.#scanned = 0;
    this.#adoptVersion(frame);
  }

  /** Frames after a CONNECT or CONNECTED are escaped by the version it agrees. */
  #adoptVersion(frame: StompFrame): void {
    let agreed: StompVersion | undefined;
    if (frame.command === 'CONNECT' || frame.command === 'STOMP') {
      agreed = negotiateVersion(header(frame, 'accept-version'), this.#supported);
    } else if (frame.command === 'CONNECTED') {
      // STOMP 1.2 "Protocol Negotiation": a CONNECTED without `version` means 1.0.
      const named = header(frame, 'version') ?? '1.0';
      agreed = STOMP_VERSIONS.find((v) => v === named);
    }
    if (agreed !== undefined) this.#version = agreed;
  }

  #lineTooLong(): RoostError {
    return limitExceeded(`a command or header line exceeds maxHeaderLineBytes (${this.#limits.maxHeaderLineBytes})`);
  }

  #frameTooLarge(): RoostError {
    return limitExceeded(`the frame exceeds maxFrameBytes (${this.#limits.maxFrameBytes})`);
  }

  #tooManyHeaders(): RoostError {
    return limitExceeded(`the frame has more than maxHeaders (${this.#limits.maxHeaders}) headers`);
  }
}

/**
 * True when `encodeFrame` can write header `name: value` in a `command` frame
 * under `version`: never a NUL or an empty name; without escaping (1.0,
 * CONNECT, CONNECTED) no CR or LF and no colon in the name; under 1.1 no CR.
 * Lets an adapter drop what a peer's version cannot carry instead of failing.
 */
export function headerEncodable(command: string, name: string, value: string, version: StompVersion): boolean {
  const escaped = escapesHeaders(command, version);
  return (
    name.length > 0 &&
    escapeHeader(name, version, escaped, true) !== undefined &&
    escapeHeader(value, version, escaped, false) !== undefined
  );
}

/**
 * The wire bytes of `frame` under `version`: command, headers in the given
 * order (escaped for 1.1 and 1.2 except in CONNECT, STOMP and CONNECTED
 * frames), a `content-length` added after them when the body is non-empty and
 * none was given, the blank line, the body, the NUL. Lines end with LF.
 * @throws RoostError STOMP_FRAME_UNENCODABLE when the command is not ASCII
 *   letters, a header fails `headerEncodable`, or a given content-length does
 *   not equal the body's length.
 */
export function encodeFrame(frame: StompFrame, version: StompVersion): Buffer {
  const batch = new FrameBatch();
  batch.add(frame, version);
  return batch.take();
}

/**
 * Frames and heart-beats encoded back to back into one buffer, for one write:
 * what a connection sends in one turn leaves in one segment, without a buffer
 * per frame. Each frame is encoded as `encodeFrame` would.
 */
export class FrameBatch {
  /** Head text (command line through the blank line; a heart-beat's EOL) and body of each item; a heart-beat has no body. */
  #heads: string[] = [];
  #bodies: Array<Buffer | undefined> = [];
  #bytes = 0;

  /** Bytes `take` would return. */
  get byteLength(): number {
    return this.#bytes;
  }

  get empty(): boolean {
    return this.#heads.length === 0;
  }

  /** @throws RoostError STOMP_FRAME_UNENCODABLE as `encodeFrame`; nothing is added then. */
  add(frame: StompFrame, version: StompVersion): void {
    const head = frameHead(frame, version);
    this.#heads.push(head);
    this.#bodies.push(frame.body);
    this.#bytes += Buffer.byteLength(head, 'utf8') + frame.body.length + 1;
  }

  /** One EOL (STOMP 1.2 "Heart-beating"). */
  addHeartbeat(): void {
    this.#heads.push('\n');
    this.#bodies.push(undefined);
    this.#bytes += 1;
  }

  /** The bytes of everything added, in order; the batch is empty again. */
  take(): Buffer {
    const wire = Buffer.allocUnsafe(this.#bytes);
    const heads = this.#heads;
    const bodies = this.#bodies;
    let pos = 0;
    for (let i = 0; i < heads.length; i++) {
      pos += wire.write(heads[i] as string, pos, 'utf8');
      const body = bodies[i];
      if (body === undefined) continue;
      pos += body.copy(wire, pos);
      wire[pos++] = NUL;
    }
    this.#heads = [];
    this.#bodies = [];
    this.#bytes = 0;
    return wire;
  }
}

/** Command line, headers and blank line of `frame`, as text. @throws like `encodeFrame` */
function frameHead(frame: StompFrame, version: StompVersion): string {
  const { command, body } = frame;
  if (!COMMAND.test(command)) throw unencodable(`command ${shown(command)} is not a STOMP command`);
  const escaped = escapesHeaders(command, version);
  let head = `${command}\n`;
  let lengthGiven = false;
  for (const [name, value] of frame.headers) {
    const wireName = name.length > 0 ? escapeHeader(name, version, escaped, true) : undefined;
    const wireValue = escapeHeader(value, version, escaped, false);
    if (wireName === undefined || wireValue === undefined) {
      const rules = escaped ? `STOMP ${version}` : `an unescaped ${command} frame`;
      throw unencodable(`header ${shown(name)} cannot be carried by ${rules}`);
    }
    if (name === 'content-length' && !lengthGiven) {
      lengthGiven = true;
      if (!DIGITS.test(value) || Number(value) !== body.length) {
        throw unencodable(`content-length ${shown(value)} does not match the ${body.length}-byte body`);
      }
    }
    head += `${wireName}:${wireValue}\n`;
  }
  // STOMP 1.2 "Header content-length": SHOULD be sent, and is needed for a body holding NULs.
  if (!lengthGiven && body.length > 0) head += `content-length:${body.length}\n`;
  return `${head}\n`;
}

function checkVersion(version: StompVersion, option: string): StompVersion {
  if (!STOMP_VERSIONS.includes(version)) {
    throw new RangeError(`StompDecoder: ${option} must be one of ${STOMP_VERSIONS.join(', ')}, got ${String(version)}`);
  }
  return version;
}

/** Peer text for an error message: quoted, and short, since it may be 8 KiB of garbage. */
function shown(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

function malformed(message: string): RoostError {
  return new RoostError('STOMP_FRAME_MALFORMED', message);
}

function limitExceeded(message: string): RoostError {
  return new RoostError('STOMP_LIMIT_EXCEEDED', message);
}

function unencodable(message: string): RoostError {
  return new RoostError('STOMP_FRAME_UNENCODABLE', message);
}
