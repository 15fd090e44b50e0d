/**
 * The store's one durable queue primitive: named, ordered queues of entries
 * (append, read from a cursor, take/remove by id, tag, replace in place, cap
 * with drop-oldest, expiry). It serves MQTT persistent-session queues now and
 * STOMP durable queues later, so it knows nothing of either protocol.
 *
 * Fan-out: a message enqueued to many queues is written ONCE, as a message
 * record (`m!<seq>`); each queue entry (`q!<name>\0<seq>`) only references it.
 * Reference counts are kept in memory and rebuilt at open from the entries;
 * the last entry to let go of a message deletes its record in the same batch.
 * At open, message records that no entry references are deleted, so nothing
 * can leak across a crash or an older build.
 *
 * The queue index (entry ids, refs, keys, tags, expiry) lives in memory, in
 * append order; only message bodies are read from disk.
 */
import { RoostError } from '../core/errors.js';
import { decodeRecord, encodeRecord } from './codec.js';
import type { Disk } from './disk.js';
import type { BatchOp } from './group-commit.js';
import { QueueIndex, type EntryState } from './queue-index.js';
import { MESSAGE_PREFIX, QUEUE_PREFIX, decodeSeq, encodeSeq, messageKey, parseQueueEntryKey, queueEntryKey, queuePrefix } from './keys.js';

/** What a caller knows about an entry without reading its message. */
export interface QueueEntryInfo {
  /** Unique across the store, increasing in append order. */
  readonly id: number;
  /** Caller-chosen identity of the message (MQTT: brokerId + brokerCounter), if any. */
  readonly key: string | undefined;
  /** Transient delivery tag set after append (MQTT: packet identifier), if any. */
  readonly tag: number | undefined;
  /** Epoch ms after which the entry is skipped and removed; 0 means never. */
  readonly expiresAt: number;
}

export interface QueueEntry extends QueueEntryInfo {
  /** The stored message, freshly decoded: the caller may change it. */
  readonly message: Record<string, unknown>;
  /**
   * True for an untagged entry loaded after an unclean shutdown (crash, kill,
   * power loss): a tag it had in memory only (`setVolatileTag`) was lost, so
   * it may have been handed out before.
   */
  readonly uncertain: boolean;
}

/** Pages through a queue; see QueueStore.cursor. */
export interface QueueCursor {
  /** The next non-empty page, or undefined when the cursor is done. */
  next(): Promise<QueueEntry[] | undefined>;
}

export interface EnqueueOptions {
  readonly key?: string;
  readonly tag?: number;
  /** Overrides the store's `maxQueuedMessages` for these queues. */
  readonly maxLength?: number;
}

export interface QueueStats {
  /** Entries dropped because their queue was full (oldest first). */
  droppedOverflow: number;
  /** Entries removed because their message expired before it was read. */
  expired: number;
}


/** Message expiry from a record's absolute `messageExpiry` (epoch ms); 0 when absent. */
function expiryOf(message: Record<string, unknown>): number {
  const at = message['messageExpiry'];
  return typeof at === 'number' && at > 0 ? at : 0;
}

/*
 * An entry value is written once per queue per message, so it has its own
 * fixed binary form rather than the general codec (a third of the bytes and
 * no per-entry scratch buffer):
 *   byte 0      flags: 1 key present, 2 tag present, 4 expiry present,
 *               8 message record inline (layout 2)
 *   bytes 1–6   message ref, uint48 LE; 0 when the record is inline
 *   [4 bytes]   tag, uint32 LE
 *   [8 bytes]   expiry, float64 LE epoch ms
 *   record inline:  [2 bytes key length, uint16 LE] [key, UTF-8] [record: the rest]
 *   otherwise:      [key, UTF-8: the rest]
 * A message for one queue, up to INLINE_MAX_BYTES, is stored inline: one
 * write to queue it and one delete to ack it, instead of two of each. An
 * inline record never changes (`replace` moves it out), so an entry can be
 * rewritten from a read of its value at any time.
 */
const F_KEY = 1;
const F_TAG = 2;
const F_EXPIRY = 4;
const F_INLINE = 8;
const INLINE_MAX_BYTES = 1024;
const HEADER_BYTES = 7;

/** Bytes of `e`'s value before an inline record (all of it otherwise). */
function entryHeadBytes(e: EntryState, keyBytes: number): number {
  const keyLength = e.ref === 0 && e.key !== undefined ? 2 : 0;
  return HEADER_BYTES + (e.tag !== undefined ? 4 : 0) + (e.expiresAt !== 0 ? 8 : 0) + keyLength + keyBytes;
}

/** Writes `e`'s head (everything but an inline record) at the start of `buf`. */
function writeEntryHead(buf: Buffer, e: EntryState): void {
  const inline = e.ref === 0;
  buf[0] = (e.key !== undefined ? F_KEY : 0) | (e.tag !== undefined ? F_TAG : 0) | (e.expiresAt !== 0 ? F_EXPIRY : 0) | (inline ? F_INLINE : 0);
  buf.writeUIntLE(e.ref, 1, 6);
  let pos = HEADER_BYTES;
  if (e.tag !== undefined) pos = buf.writeUInt32LE(e.tag, pos);
  if (e.expiresAt !== 0) pos = buf.writeDoubleLE(e.expiresAt, pos);
  if (e.key === undefined) return;
  if (inline) buf.writeUInt16LE(buf.write(e.key, pos + 2, 'utf8'), pos);
  else buf.write(e.key, pos, 'utf8');
}

/** `e`'s value; an inline entry needs its `record`. */
function entryValue(e: EntryState, record?: Buffer): Buffer {
  const inline = e.ref === 0;
  if (inline && record === undefined) throw new RoostError('INTERNAL', 'an inline queue entry is written with its record');
  const head = entryHeadBytes(e, e.key === undefined ? 0 : Buffer.byteLength(e.key, 'utf8'));
  const buf = Buffer.allocUnsafe(head + (inline ? (record as Buffer).length : 0));
  writeEntryHead(buf, e);
  if (inline) (record as Buffer).copy(buf, head);
  return buf;
}

function truncated(): RoostError {
  return new RoostError('STORE_CORRUPT', 'a queue entry is truncated; restore the data dir from a backup or move it away');
}

/** Where the key of an entry value starts, and how long it is (-1: to the end). */
function keyAt(buf: Buffer): { pos: number; length: number } {
  if (buf.length < HEADER_BYTES) throw truncated();
  const flags = buf[0] as number;
  let pos = HEADER_BYTES + (flags & F_TAG ? 4 : 0) + (flags & F_EXPIRY ? 8 : 0);
  let length = 0;
  if (flags & F_KEY) {
    if (flags & F_INLINE) {
      if (pos + 2 > buf.length) throw truncated();
      length = buf.readUInt16LE(pos);
      pos += 2;
    } else {
      length = -1;
    }
  }
  if (pos > buf.length || pos + Math.max(length, 0) > buf.length) throw truncated();
  return { pos, length };
}

function parseEntryValue(id: number, buf: Buffer): EntryState {
  const { pos, length } = keyAt(buf);
  const flags = buf[0] as number;
  const ref = flags & F_INLINE ? 0 : buf.readUIntLE(1, 6);
  const tag = flags & F_TAG ? buf.readUInt32LE(HEADER_BYTES) : undefined;
  const expiresAt = flags & F_EXPIRY ? buf.readDoubleLE(HEADER_BYTES + (flags & F_TAG ? 4 : 0)) : 0;
  const key = flags & F_KEY ? buf.toString('utf8', pos, length < 0 ? buf.length : pos + length) : undefined;
  return { id, ref, key, tag, expiresAt, tagUnsaved: false };
}

/** The message record inside an inline entry's value. */
function inlineRecord(buf: Buffer): Buffer {
  const { pos, length } = keyAt(buf);
  return buf.subarray(pos + length);
}

function checkTag(tag: number | undefined): void {
  if (tag !== undefined && !(Number.isInteger(tag) && tag >= 0 && tag <= 0xffff_ffff)) {
    throw new RoostError('INTERNAL', `queue entry tag must be an integer 0–4294967295, got ${String(tag)}`);
  }
}

/** The key of entry `id` of `q` (keys.ts `queueEntryKey`, the prefix built once per queue). */
function entryKey(q: QueueIndex, id: number): string {
  return q.keyPrefix + encodeSeq(id);
}

/** Where `e`'s message record is: its own entry when inline, else the shared record. */
function recordKey(q: QueueIndex, e: EntryState): string {
  return e.ref === 0 ? entryKey(q, e.id) : messageKey(e.ref);
}

/** `page` without the entries removed from `q` since it was read (the same array when none was). */
function stillQueued(q: QueueIndex, page: QueueEntry[]): QueueEntry[] {
  for (const e of page) if (q.get(e.id) === undefined) return page.filter((x) => q.get(x.id) !== undefined);
  return page;
}

function next(entries: Iterator<EntryState>): EntryState | undefined {
  const r = entries.next();
  return r.done ? undefined : r.value;
}

export class QueueStore {
  readonly #disk: Disk;
  readonly #maxLength: number;
  readonly #now: () => number;
  readonly #queues = new Map<string, QueueIndex>();
  readonly #refs = new Map<number, number>();
  readonly #nextSeq: () => number;
  readonly stats: QueueStats = { droppedOverflow: 0, expired: 0 };
  /** Entries up to this id were loaded after an unclean shutdown; 0 after a clean one. */
  #uncertainUpTo = 0;

  /** @internal built by LevelStore.open */
  constructor(disk: Disk, maxLength: number, nextSeq: () => number, now: () => number) {
    this.#disk = disk;
    this.#maxLength = maxLength;
    this.#nextSeq = nextSeq;
    this.#now = now;
  }

  /**
   * @internal Loads every entry and rebuilds reference counts; deletes message
   * records no entry references and entries whose message record is missing.
   * After an unclean shutdown the untagged entries loaded are `uncertain`.
   * Returns the highest seq seen.
   */
  async load(uncleanShutdown: boolean): Promise<number> {
    let maxSeq = 0;
    for await (const [k, value] of this.#disk.entries(QUEUE_PREFIX)) {
      const { name, seq } = parseQueueEntryKey(k);
      const e = parseEntryValue(seq, value);
      this.#queue(name).append(e);
      if (e.ref !== 0) this.#refs.set(e.ref, (this.#refs.get(e.ref) ?? 0) + 1);
      if (seq > maxSeq) maxSeq = seq;
    }
    const repairs: BatchOp[] = [];
    const present = new Set<number>();
    for await (const k of this.#disk.keys(MESSAGE_PREFIX)) {
      const seq = decodeSeq(k.slice(MESSAGE_PREFIX.length));
      if (seq > maxSeq) maxSeq = seq;
      if (this.#refs.has(seq)) present.add(seq);
      else repairs.push({ type: 'del', key: k });
    }
    if (present.size < this.#refs.size) {
      for (const [name, q] of [...this.#queues]) {
        for (const e of [...q.values()]) if (e.ref !== 0 && !present.has(e.ref)) this.#removeState(name, q, e, repairs);
      }
    }
    if (repairs.length > 0) await this.#disk.write(repairs);
    if (uncleanShutdown) this.#uncertainUpTo = maxSeq;
    return maxSeq;
  }

  #queue(name: string): QueueIndex {
    let q = this.#queues.get(name);
    if (!q) {
      q = new QueueIndex(queuePrefix(name));
      this.#queues.set(name, q);
    }
    return q;
  }

  /** Names of queues holding at least one entry. */
  names(): string[] {
    return [...this.#queues.keys()];
  }

  /** True when entry `id` is in queue `name`. */
  has(name: string, id: number): boolean {
    return this.#queues.get(name)?.get(id) !== undefined;
  }

  /** Entries in `name`, expired ones not yet removed included. */
  length(name: string): number {
    return this.#queues.get(name)?.size ?? 0;
  }

  /**
   * Appends `message` to each queue in `names`, writing the message once.
   * When a queue is full its oldest entry is dropped and counted in
   * `stats.droppedOverflow`. Resolves once the batch holding it is written.
   * @returns the new entry's id in each queue, in `names` order.
   * @throws RoostError STORE_CLOSED | STORE_UNWRITABLE
   */
  async enqueue(names: readonly string[], message: Record<string, unknown>, options: EnqueueOptions = {}): Promise<number[]> {
    this.#disk.assertOpen();
    if (names.length === 0) return [];
    checkTag(options.tag);
    const payload = message['payload'];
    const payloadBytes = payload instanceof Uint8Array ? payload.length : 0;
    const expiresAt = expiryOf(message);
    const max = options.maxLength ?? this.#maxLength;
    const ops: BatchOp[] = [];
    if (names.length === 1) {
      const name = names[0] as string;
      const q = this.#queue(name);
      while (q.size >= max && q.size > 0) this.#dropOldest(name, q, ops);
      // Encoded behind room for the entry's head: an inline entry is then one buffer, no copy.
      const e: EntryState = { id: this.#nextSeq(), ref: 0, key: options.key, tag: options.tag, expiresAt, tagUnsaved: false };
      const keyBytes = e.key === undefined ? 0 : Buffer.byteLength(e.key, 'utf8');
      const head = entryHeadBytes(e, keyBytes);
      const value = encodeRecord(message, payloadBytes, head);
      if (value.length - head <= INLINE_MAX_BYTES && keyBytes <= 0xffff) {
        writeEntryHead(value, e);
        ops.push({ type: 'put', key: entryKey(q, e.id), value });
      } else {
        e.ref = this.#nextSeq();
        this.#refs.set(e.ref, 1);
        ops.push({ type: 'put', key: messageKey(e.ref), value: value.subarray(head) });
        ops.push({ type: 'put', key: entryKey(q, e.id), value: entryValue(e) });
      }
      q.append(e);
      await this.#disk.write(ops);
      return [e.id];
    }
    const ref = this.#nextSeq();
    ops.push({ type: 'put', key: messageKey(ref), value: encodeRecord(message, payloadBytes) });
    this.#refs.set(ref, names.length);
    const ids: number[] = [];
    for (const name of names) {
      const q = this.#queue(name);
      while (q.size >= max && q.size > 0) this.#dropOldest(name, q, ops);
      const e: EntryState = { id: this.#nextSeq(), ref, key: options.key, tag: options.tag, expiresAt, tagUnsaved: false };
      q.append(e);
      ops.push({ type: 'put', key: entryKey(q, e.id), value: entryValue(e) });
      ids.push(e.id);
    }
    await this.#disk.write(ops);
    return ids;
  }

  #dropOldest(name: string, q: QueueIndex, ops: BatchOp[]): void {
    const first = q.first() as EntryState;
    if (first.expiresAt !== 0 && first.expiresAt <= this.#now()) this.stats.expired++;
    else this.stats.droppedOverflow++;
    this.#removeState(name, q, first, ops);
  }

  #removeState(name: string, q: QueueIndex, e: EntryState, ops: BatchOp[]): void {
    q.delete(e);
    if (q.size === 0 && this.#queues.get(name) === q) this.#queues.delete(name);
    ops.push({ type: 'del', key: entryKey(q, e.id) });
    this.#release(e.ref, ops);
  }

  #release(ref: number, ops: BatchOp[]): void {
    if (ref === 0) return;
    const n = (this.#refs.get(ref) ?? 1) - 1;
    if (n > 0) {
      this.#refs.set(ref, n);
    } else {
      this.#refs.delete(ref);
      ops.push({ type: 'del', key: messageKey(ref) });
    }
  }

  /** The first entry, in queue order, for which `test` is true. Memory only. */
  find(name: string, test: (entry: QueueEntryInfo) => boolean): QueueEntryInfo | undefined {
    const q = this.#queues.get(name);
    if (q) for (const e of q.values()) if (test(e)) return e;
    return undefined;
  }

  /** Entries of `name` with key `key`, oldest first. Memory only, no scan. */
  withKey(name: string, key: string): QueueEntryInfo[] {
    return this.#queues.get(name)?.withKey(key) ?? [];
  }

  /** Entries of `name` with tag `tag`, oldest first. Memory only, no scan. */
  withTag(name: string, tag: number): QueueEntryInfo[] {
    return this.#queues.get(name)?.withTag(tag) ?? [];
  }

  /** The oldest entry of `name` with tag `tag`. Memory only, no scan. */
  firstWithTag(name: string, tag: number): QueueEntryInfo | undefined {
    return this.#queues.get(name)?.firstWithTag(tag);
  }

  /** True when an entry of `name` has tag `tag`. Memory only, no scan. */
  hasTag(name: string, tag: number): boolean {
    return this.#queues.get(name)?.hasTag(tag) ?? false;
  }

  /**
   * Up to `limit` live entries of `name` after entry `afterId` (0: from the
   * start) and up to `untilId` (inclusive), in order. Expired entries met on
   * the way are removed and counted in `stats.expired`.
   */
  async read(name: string, options: { afterId?: number; untilId?: number; limit?: number } = {}): Promise<QueueEntry[]> {
    this.#disk.assertOpen();
    const q = this.#queues.get(name);
    if (!q) return [];
    const afterId = options.afterId ?? 0;
    const entries = q.values();
    // Skip to afterId; a cursor keeps its own position instead (see `cursor`).
    let first = entries.next();
    while (!first.done && first.value.id <= afterId) first = entries.next();
    if (first.done) return [];
    return this.#page(name, q, first.value, entries, options.untilId ?? Number.MAX_SAFE_INTEGER, options.limit ?? Number.MAX_SAFE_INTEGER);
  }

  /**
   * Reads up to `limit` live entries starting with `head`, then from `rest`,
   * up to `untilId`; removes the expired ones met. Consumes `rest` only as far
   * as the last entry it returns, so a cursor can resume from it.
   */
  async #page(name: string, q: QueueIndex, head: EntryState | undefined, rest: Iterator<EntryState>, untilId: number, limit: number): Promise<QueueEntry[]> {
    const now = this.#now();
    const picked: EntryState[] = [];
    const expired: EntryState[] = [];
    for (let e = head ?? next(rest); e !== undefined && e.id <= untilId; e = picked.length < limit ? next(rest) : undefined) {
      // A Map iterator is live: entries removed since are never produced.
      if (e.expiresAt !== 0 && e.expiresAt <= now) expired.push(e);
      else picked.push(e);
    }
    if (expired.length > 0) {
      const ops: BatchOp[] = [];
      for (const e of expired) {
        this.stats.expired++;
        this.#removeState(name, q, e, ops);
      }
      // Not awaited: the entries are already gone from the index, so a failed
      // delete only means they are found, expired, again after a restart.
      this.#disk.writeDetached(ops);
    }
    if (picked.length === 0) return [];
    const values = await this.#disk.getMany(picked.map((e) => recordKey(q, e)));
    const out: QueueEntry[] = [];
    for (let i = 0; i < picked.length; i++) {
      const value = values[i];
      const e = picked[i] as EntryState;
      // Acked while we were reading: skip.
      if (value === undefined) continue;
      out.push(this.#entry(e, value));
    }
    return out;
  }

  /**
   * A cursor over the entries of `name` present now, in order: each `next()`
   * resolves up to `pageSize` of them, undefined when done. Entries appended
   * after the call are not included; entries removed meanwhile are skipped.
   * While the caller works on one page the next one is already being read.
   */
  cursor(name: string, pageSize = 256): QueueCursor {
    this.#disk.assertOpen();
    const q = this.#queues.get(name);
    if (!q || q.size === 0) return { next: () => Promise.resolve(undefined) };
    const untilId = q.lastId;
    // A live iterator, so each page starts where the last one ended instead of skipping from the head.
    const entries = q.values();
    const read = async (): Promise<QueueEntry[] | undefined> => {
      for (;;) {
        const head = next(entries);
        if (head === undefined || head.id > untilId) return undefined;
        const page = await this.#page(name, q, head, entries, untilId, pageSize);
        // An empty page means everything read was expired or acked meanwhile: go on.
        if (page.length > 0) return page;
      }
    };
    let ahead: Promise<QueueEntry[] | undefined> | undefined;
    return {
      next: async () => {
        for (;;) {
          this.#disk.assertOpen();
          const page = await (ahead ?? read());
          if (page === undefined) return undefined;
          ahead = read();
          // Awaited by the next call; until then a failure must not count as unhandled.
          ahead.catch(() => undefined);
          const live = stillQueued(q, page);
          if (live.length > 0) return live;
        }
      },
    };
  }

  /** The entries of `name` present now, one at a time; see `cursor`. */
  async *stream(name: string, pageSize = 256): AsyncGenerator<QueueEntry> {
    const cursor = this.cursor(name, pageSize);
    for (let page = await cursor.next(); page; page = await cursor.next()) yield* page;
  }

  /** The message of one entry, or undefined when the entry is gone. */
  async get(name: string, id: number): Promise<QueueEntry | undefined> {
    const q = this.#queues.get(name);
    const e = q?.get(id);
    if (!q || !e) return undefined;
    const value = await this.#disk.get(recordKey(q, e));
    if (value === undefined) return undefined;
    return this.#entry(e, value);
  }

  /** The entry as read: `value` is its message record, or for an inline entry its own value. */
  #entry(e: EntryState, value: Buffer): QueueEntry {
    const uncertain = e.tag === undefined && e.id <= this.#uncertainUpTo;
    const record = e.ref === 0 ? inlineRecord(value) : value;
    return { id: e.id, key: e.key, tag: e.tag, expiresAt: e.expiresAt, message: decodeRecord(record) as Record<string, unknown>, uncertain };
  }

  /**
   * Writes entry `e` as it is in memory now; an inline one is read first for
   * its record, and not written at all if it was removed meanwhile.
   */
  async #save(name: string, e: EntryState): Promise<void> {
    const key = queueEntryKey(name, e.id);
    let record: Buffer | undefined;
    if (e.ref === 0) {
      const value = await this.#disk.get(key);
      if (value === undefined || this.#queues.get(name)?.get(e.id) !== e) return;
      record = inlineRecord(value);
    }
    // `replace` may have moved the record out meanwhile; then the entry is written without it.
    await this.#disk.write([{ type: 'put', key, value: entryValue(e, e.ref === 0 ? record : undefined) }]);
  }

  /** Sets the delivery tag of an entry, durably. False when the entry is gone. */
  async setTag(name: string, id: number, tag: number | undefined): Promise<boolean> {
    this.#disk.assertOpen();
    const e = this.#queues.get(name)?.get(id);
    if (!e) return false;
    checkTag(tag);
    this.#queues.get(name)?.setTag(e, tag);
    e.tagUnsaved = false;
    await this.#save(name, e);
    return true;
  }

  /**
   * Sets the delivery tag of an entry in memory only, for a tag whose loss
   * costs nothing worse than a repeat delivery (MQTT: a QoS 1 packet id).
   * It is written with the entry's next durable change or at a clean close;
   * after a crash the entry comes back untagged and `uncertain`. False when
   * the entry is gone.
   */
  setVolatileTag(name: string, id: number, tag: number | undefined): boolean {
    this.#disk.assertOpen();
    const q = this.#queues.get(name);
    const e = q?.get(id);
    if (!q || !e) return false;
    if (e.tag === tag) return true;
    checkTag(tag);
    q.setTag(e, tag);
    e.tagUnsaved = true;
    return true;
  }

  /**
   * @internal The writes that save every tag set by `setVolatileTag`, for a
   * clean close: the store is closed to callers, so nothing changes while
   * `read` (LevelDB itself, every write landed) fetches inline entries.
   */
  async unsavedTags(read: (keys: string[]) => Promise<Array<Buffer | undefined>>): Promise<BatchOp[]> {
    const unsaved: Array<[string, EntryState]> = [];
    for (const [name, q] of this.#queues) for (const e of q.values()) if (e.tagUnsaved) unsaved.push([name, e]);
    const inline = unsaved.filter(([, e]) => e.ref === 0);
    const values = inline.length > 0 ? await read(inline.map(([name, e]) => queueEntryKey(name, e.id))) : [];
    const records = new Map<EntryState, Buffer>();
    inline.forEach(([, e], i) => {
      const value = values[i];
      if (value !== undefined) records.set(e, inlineRecord(value));
    });
    const ops: BatchOp[] = [];
    for (const [name, e] of unsaved) {
      const record = records.get(e);
      if (e.ref === 0 && record === undefined) continue;
      e.tagUnsaved = false;
      ops.push({ type: 'put', key: queueEntryKey(name, e.id), value: entryValue(e, record) });
    }
    return ops;
  }

  /**
   * Replaces an entry's message in place, keeping its position (MQTT: PUBLISH
   * → PUBREL). False when the entry is gone.
   */
  async replace(name: string, id: number, message: Record<string, unknown>, options: { key?: string; tag?: number } = {}): Promise<boolean> {
    this.#disk.assertOpen();
    const e = this.#queues.get(name)?.get(id);
    if (!e) return false;
    checkTag(options.tag);
    const ops: BatchOp[] = [];
    this.#release(e.ref, ops);
    e.ref = this.#nextSeq();
    const q = this.#queues.get(name) as QueueIndex;
    q.setKey(e, options.key);
    q.setTag(e, options.tag);
    e.tagUnsaved = false;
    e.expiresAt = expiryOf(message);
    this.#refs.set(e.ref, 1);
    ops.push({ type: 'put', key: messageKey(e.ref), value: encodeRecord(message) });
    ops.push({ type: 'put', key: queueEntryKey(name, id), value: entryValue(e) });
    await this.#disk.write(ops);
    return true;
  }

  /**
   * Removes one entry and resolves with it (undefined when it was already
   * gone). The entry leaves the index at once, so a concurrent `take` of the
   * same id gets undefined; its message is released only after it was read.
   */
  async take(name: string, id: number): Promise<QueueEntry | undefined> {
    this.#disk.assertOpen();
    const q = this.#queues.get(name);
    const e = q?.get(id);
    if (!q || !e) return undefined;
    q.delete(e);
    if (q.size === 0 && this.#queues.get(name) === q) this.#queues.delete(name);
    const ops: BatchOp[] = [{ type: 'del', key: entryKey(q, id) }];
    let value: Buffer | undefined;
    try {
      value = await this.#disk.get(recordKey(q, e));
    } finally {
      this.#release(e.ref, ops);
      await this.#disk.write(ops);
    }
    if (value === undefined) return undefined;
    return this.#entry(e, value);
  }

  /**
   * Removes (acks) one entry now; its delete joins the next batch but is not
   * waited for, for an acknowledgement whose loss in a crash only means one
   * more delivery. False when the entry was already gone.
   */
  discard(name: string, id: number): boolean {
    const ops = this.#removeNow(name, id);
    if (ops === undefined) return false;
    // A failed batch fails the writes waiting on it; this entry only comes back after a restart.
    this.#disk.writeDetached(ops);
    return true;
  }

  /** Removes (acks) one entry. False when it was already gone. */
  async remove(name: string, id: number): Promise<boolean> {
    const ops = this.#removeNow(name, id);
    if (ops === undefined) return false;
    await this.#disk.write(ops);
    return true;
  }

  /** Drops entry `id` of `name` from memory; the writes that remove it, or undefined when it was already gone. */
  #removeNow(name: string, id: number): BatchOp[] | undefined {
    this.#disk.assertOpen();
    const q = this.#queues.get(name);
    const e = q?.get(id);
    if (!q || !e) return undefined;
    const ops: BatchOp[] = [];
    this.#removeState(name, q, e, ops);
    return ops;
  }

  /** Removes every entry of `name`. */
  async clear(name: string): Promise<void> {
    this.#disk.assertOpen();
    const q = this.#queues.get(name);
    if (!q) return;
    const ops: BatchOp[] = [];
    for (const e of [...q.values()]) this.#removeState(name, q, e, ops);
    await this.#disk.write(ops);
  }
}
