/**
 * The value encoding of every record the store writes: a small tagged binary
 * format for plain objects (packets, subscriptions, wills).
 *
 * Why not JSON: a payload is opaque bytes and JSON would have to base64 it
 * (a third larger, and a copy both ways), it cannot tell a Buffer from a
 * string, and it drops `undefined` — yet aedes compares packets field by field
 * and `{ messageId: undefined }` is not `{}` to it. Why not msgpack: it needs a
 * dependency and still spells every key in full on every record. Here the
 * field names aedes and MQTT 5 use are one byte each (see KEY_DICTIONARY),
 * Buffers are copied in as raw bytes, and `undefined`, `null`, Buffer versus
 * string and nested arrays/objects survive a round trip exactly. Unknown keys
 * are spelled out, so nothing is ever dropped.
 *
 * Format: one version byte (CODEC_VERSION), then one value. A value is a tag
 * byte and its body:
 *   0 undefined · 1 null · 2 false · 3 true
 *   4 unsigned integer (varint) · 5 negative integer (varint of -n) · 6 float64 LE
 *   7 string (varint byte length, UTF-8) · 8 Buffer (varint length, bytes)
 *   9 array (varint count, values) · 10 object (varint count, then key, value)
 * A key is a varint: below KEY_DICTIONARY.length it is a dictionary index,
 * otherwise (n - length) is the byte length of the UTF-8 key that follows.
 */
import { RoostError } from '../core/errors.js';

/** Bumped only with a new store layout version; see keys.ts. */
export const CODEC_VERSION = 1;

/**
 * Append-only: an index, once written to disk, names its key forever.
 * Ordered roughly by how often the key occurs.
 */
const KEY_DICTIONARY: readonly string[] = [
  'cmd', 'topic', 'payload', 'qos', 'retain', 'dup', 'messageId', 'brokerId',
  'brokerCounter', 'clientId', 'nl', 'rh', 'rap', 'properties', 'messageExpiry',
  'subscriptionIdentifier', 'payloadFormatIndicator', 'messageExpiryInterval',
  'contentType', 'responseTopic', 'correlationData', 'userProperties', 'topicAlias',
  'length', 'id', 'timestamp', 'origin', 'protocol', 'user',
];
const KEY_INDEX = new Map<string, number>(KEY_DICTIONARY.map((key, i) => [key, i]));

const T_UNDEFINED = 0;
const T_NULL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_UINT = 4;
const T_NEGINT = 5;
const T_FLOAT = 6;
const T_STRING = 7;
const T_BUFFER = 8;
const T_ARRAY = 9;
const T_OBJECT = 10;

/**
 * A value the codec can carry. Objects of any class are written as plain objects
 * (own enumerable fields; function-valued fields skipped) and read back plain;
 * a Uint8Array comes back as a Buffer. Symbols and bigints are refused.
 */
export type Encodable =
  | undefined
  | null
  | boolean
  | number
  | string
  | Buffer
  | Uint8Array
  | readonly Encodable[]
  | { readonly [key: string]: Encodable };

class Writer {
  buf: Buffer;
  pos = 0;
  constructor(sizeHint: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64, sizeHint));
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  varint(n: number): void {
    this.ensure(8);
    // Safe integers only (checked by the caller); division keeps above 2^31 exact.
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }
  bytes(src: Uint8Array): void {
    this.varint(src.length);
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }
  string(s: string): void {
    // Short ASCII strings (topics, ids, `publish`) are copied here: cheaper than two native calls.
    if (s.length < 0x80) {
      this.ensure(1 + s.length);
      const start = this.pos + 1;
      let i = 0;
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        this.buf[start + i] = c;
      }
      if (i === s.length) {
        this.buf[this.pos] = i;
        this.pos = start + i;
        return;
      }
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.varint(len);
    this.ensure(len);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
}

function writeValue(w: Writer, value: unknown, depth: number): void {
  if (depth > 32) throw new RoostError('INTERNAL', 'store codec: value nested deeper than 32 levels');
  switch (typeof value) {
    case 'undefined':
      w.byte(T_UNDEFINED);
      return;
    case 'boolean':
      w.byte(value ? T_TRUE : T_FALSE);
      return;
    case 'number':
      if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
        if (value >= 0) {
          w.byte(T_UINT);
          w.varint(value);
        } else {
          w.byte(T_NEGINT);
          w.varint(-value);
        }
      } else {
        w.byte(T_FLOAT);
        w.ensure(8);
        w.buf.writeDoubleLE(value, w.pos);
        w.pos += 8;
      }
      return;
    case 'string':
      w.byte(T_STRING);
      w.string(value);
      return;
    case 'object':
      if (value === null) {
        w.byte(T_NULL);
        return;
      }
      if (value instanceof Uint8Array) {
        w.byte(T_BUFFER);
        w.bytes(value);
        return;
      }
      if (Array.isArray(value)) {
        w.byte(T_ARRAY);
        w.varint(value.length);
        for (const item of value) writeValue(w, item, depth + 1);
        return;
      }
      {
        const record = value as Record<string, unknown>;
        // aedes hands over class instances (Packet, QoSPacket with a bound writeCallback):
        // their own data fields are the record; functions are runtime-only and skipped.
        const keys = Object.keys(record);
        let count = 0;
        for (const key of keys) if (typeof record[key] !== 'function') count++;
        w.byte(T_OBJECT);
        w.varint(count);
        for (const key of keys) {
          if (typeof record[key] === 'function') continue;
          const index = KEY_INDEX.get(key);
          if (index !== undefined) {
            w.varint(index);
          } else {
            const len = Buffer.byteLength(key, 'utf8');
            w.varint(KEY_DICTIONARY.length + len);
            w.ensure(len);
            w.pos += w.buf.write(key, w.pos, 'utf8');
          }
          writeValue(w, record[key], depth + 1);
        }
      }
      return;
    default:
      throw new RoostError('INTERNAL', `store codec: cannot encode a ${typeof value}`);
  }
}

/**
 * Encodes `value` (usually a packet-shaped object) to a fresh Buffer, after
 * `headroom` bytes left for the caller to fill. `sizeHint`: bytes expected
 * beyond a packet's usual fields (its payload).
 * @throws RoostError INTERNAL for a symbol or bigint, or nesting deeper than 32.
 */
export function encodeRecord(value: unknown, sizeHint = 0, headroom = 0): Buffer {
  const w = new Writer(headroom + sizeHint + 192);
  w.pos = headroom;
  w.byte(CODEC_VERSION);
  writeValue(w, value, 0);
  // A view, not a copy: LevelDB copies the bytes on write anyway.
  return w.buf.subarray(0, w.pos);
}

class Reader {
  pos = 1;
  constructor(readonly buf: Buffer) {}
  varint(): number {
    let n = 0;
    let mul = 1;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw corrupt('truncated varint');
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 0x80;
      if (mul > 2 ** 56) throw corrupt('varint too long');
    }
  }
  take(len: number): Buffer {
    const end = this.pos + len;
    if (end > this.buf.length) throw corrupt('truncated value');
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }
}

function corrupt(why: string): RoostError {
  return new RoostError('STORE_CORRUPT', `store record is damaged (${why}); restore the data dir from a backup or move it away`);
}

function readValue(r: Reader): unknown {
  const tag = r.buf[r.pos++];
  switch (tag) {
    case T_UNDEFINED:
      return undefined;
    case T_NULL:
      return null;
    case T_FALSE:
      return false;
    case T_TRUE:
      return true;
    case T_UINT:
      return r.varint();
    case T_NEGINT:
      return -r.varint();
    case T_FLOAT: {
      const v = r.take(8).readDoubleLE(0);
      return v;
    }
    case T_STRING: {
      const len = r.varint();
      const start = r.pos;
      r.take(len);
      return r.buf.toString('utf8', start, start + len);
    }
    case T_BUFFER: {
      const len = r.varint();
      // A view, not a copy: each record is its own Buffer, mostly payload.
      return r.take(len);
    }
    case T_ARRAY: {
      const n = r.varint();
      const out: unknown[] = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = readValue(r);
      return out;
    }
    case T_OBJECT: {
      const n = r.varint();
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const k = r.varint();
        const key = k < KEY_DICTIONARY.length ? (KEY_DICTIONARY[k] as string) : r.take(k - KEY_DICTIONARY.length).toString('utf8');
        const value = readValue(r);
        // A stored "__proto__" key must stay data, never become the prototype.
        if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
        else out[key] = value;
      }
      return out;
    }
    default:
      throw corrupt(`unknown tag ${String(tag)}`);
  }
}

/**
 * Decodes a Buffer written by `encodeRecord`.
 * @throws RoostError STORE_CORRUPT when the bytes are not a record of a known codec version.
 */
export function decodeRecord(buf: Buffer): unknown {
  if (buf[0] !== CODEC_VERSION) throw corrupt(`codec version ${String(buf[0])}`);
  const r = new Reader(buf);
  const value = readValue(r);
  if (r.pos !== buf.length) throw corrupt('trailing bytes');
  return value;
}
