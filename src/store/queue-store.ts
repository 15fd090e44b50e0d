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
import { MESSAGE_PREFIX, QUEUE_PREFIX, decodeSeq, messageKey, parseQueueEntryKey, queueEntryKey } from './keys.js';

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
 *   byte 0      flags: 1 key present, 2 tag present, 4 expiry present
 *   bytes 1–6   message ref, uint48 LE
 *   [4 bytes]   tag, uint32 LE
 *   [8 bytes]   expiry, float64 LE epoch ms
 *   [rest]      key, UTF-8
 */
const F_KEY = 1;
const F_TAG = 2;
const F_EXPIRY = 4;

function entryValue(e: EntryState, keyBytes = e.key === undefined ? 0 : Buffer.byteLength(e.key, 'utf8')): Buffer {
  const hasTag = e.tag !== undefined;
  const hasExpiry = e.expiresAt !== 0;
  const buf = Buffer.allocUnsafe(7 + (hasTag ? 4 : 0) + (hasExpiry ? 8 : 0) + keyBytes);
  buf[0] = (e.key !== undefined ? F_KEY : 0) | (hasTag ? F_TAG : 0) | (hasExpiry ? F_EXPIRY : 0);
  buf.writeUIntLE(e.ref, 1, 6);
  let pos = 7;
  if (hasTag) pos = buf.writeUInt32LE(e.tag as number, pos);
  if (hasExpiry) pos = buf.writeDoubleLE(e.expiresAt, pos);
  if (e.key !== undefined) buf.write(e.key, pos, 'utf8');
  return buf;
}

function parseEntryValue(id: number, buf: Buffer): EntryState {
  if (buf.length < 7) throw new RoostError('STORE_CORRUPT', 'a queue entry is truncated; restore the data dir from a backup or move it away');
  const flags = buf[0] as number;
  const ref = buf.readUIntLE(1, 6);
  let pos = 7;
  let tag: number | undefined;
  let expiresAt = 0;
  if (flags & F_TAG) {
    tag = buf.readUInt32LE(pos);
    pos += 4;
  }
  if (flags & F_EXPIRY) {
    expiresAt = buf.readDoubleLE(pos);
    pos += 8;
  }
  const key = flags & F_KEY ? buf.toString('utf8', pos) : undefined;
  return { id, ref, key, tag, expiresAt };
}

function checkTag(tag: number | undefined): void {
  if (tag !== undefined && !(Number.isInteger(tag) && tag >= 0 && tag <= 0xffff_ffff)) {
    throw new RoostError('INTERNAL', `queue entry tag must be an integer 0–4294967295, got ${String(tag)}`);
  }
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
   * Returns the highest seq seen.
   */
  async load(): Promise<number> {
    let maxSeq = 0;
    for await (const [k, value] of this.#disk.entries(QUEUE_PREFIX)) {
      const { name, seq } = parseQueueEntryKey(k);
      const e = parseEntryValue(seq, value);
      this.#queue(name).append(e);
      this.#refs.set(e.ref, (this.#refs.get(e.ref) ?? 0) + 1);
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
        for (const e of [...q.values()]) if (!present.has(e.ref)) this.#removeState(name, q, e, repairs);
      }
    }
    if (repairs.length > 0) await this.#disk.write(repairs);
    return maxSeq;
  }

  #queue(name: string): QueueIndex {
    let q = this.#queues.get(name);
    if (!q) {
      q = new QueueIndex();
      this.#queues.set(name, q);
    }
    return q;
  }

  /** Names of queues holding at least one entry. */
  names(): string[] {
    return [...this.#queues.keys()];
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
    const ref = this.#nextSeq();
    const payload = message['payload'];
    const body = encodeRecord(message, payload instanceof Uint8Array ? payload.length : 0);
    const ops: BatchOp[] = [{ type: 'put', key: messageKey(ref), value: body }];
    const expiresAt = expiryOf(message);
    const max = options.maxLength ?? this.#maxLength;
    checkTag(options.tag);
    const keyBytes = options.key === undefined ? 0 : Buffer.byteLength(options.key, 'utf8');
    const ids: number[] = [];
    this.#refs.set(ref, names.length);
    for (const name of names) {
      const q = this.#queue(name);
      while (q.size >= max && q.size > 0) this.#dropOldest(name, q, ops);
      const e: EntryState = { id: this.#nextSeq(), ref, key: options.key, tag: options.tag, expiresAt };
      q.append(e);
      ops.push({ type: 'put', key: queueEntryKey(name, e.id), value: entryValue(e, keyBytes) });
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
    ops.push({ type: 'del', key: queueEntryKey(name, e.id) });
    this.#release(e.ref, ops);
  }

  #release(ref: number, ops: BatchOp[]): void {
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
      this.#disk.write(ops).catch(() => undefined);
    }
    if (picked.length === 0) return [];
    const bodies = await this.#disk.getMany(picked.map((e) => messageKey(e.ref)));
    const out: QueueEntry[] = [];
    for (let i = 0; i < picked.length; i++) {
      const body = bodies[i];
      const e = picked[i] as EntryState;
      // Acked while we were reading: skip.
      if (body === undefined) continue;
      out.push({ id: e.id, key: e.key, tag: e.tag, expiresAt: e.expiresAt, message: decodeRecord(body) as Record<string, unknown> });
    }
    return out;
  }

  /**
   * A cursor over the entries of `name` present now, in order: each `next()`
   * reads up to `pageSize` of them and resolves undefined when done. Entries
   * appended after the call are not included; entries removed meanwhile are
   * skipped.
   */
  cursor(name: string, pageSize = 128): QueueCursor {
    this.#disk.assertOpen();
    const q = this.#queues.get(name);
    if (!q || q.size === 0) return { next: () => Promise.resolve(undefined) };
    const untilId = q.lastId;
    // A live iterator, so each page starts where the last one ended instead of skipping from the head.
    const entries = q.values();
    return {
      next: async () => {
        this.#disk.assertOpen();
        for (;;) {
          const head = next(entries);
          if (head === undefined || head.id > untilId) return undefined;
          const page = await this.#page(name, q, head, entries, untilId, pageSize);
          // An empty page means everything read was expired or acked meanwhile: go on.
          if (page.length > 0) return page;
        }
      },
    };
  }

  /** The entries of `name` present now, one at a time; see `cursor`. */
  async *stream(name: string, pageSize = 128): AsyncGenerator<QueueEntry> {
    const cursor = this.cursor(name, pageSize);
    for (let page = await cursor.next(); page; page = await cursor.next()) yield* page;
  }

  /** The message of one entry, or undefined when the entry is gone. */
  async get(name: string, id: number): Promise<QueueEntry | undefined> {
    const e = this.#queues.get(name)?.get(id);
    if (!e) return undefined;
    const body = await this.#disk.get(messageKey(e.ref));
    if (body === undefined) return undefined;
    return { id: e.id, key: e.key, tag: e.tag, expiresAt: e.expiresAt, message: decodeRecord(body) as Record<string, unknown> };
  }

  /** Sets the delivery tag of an entry, durably. False when the entry is gone. */
  async setTag(name: string, id: number, tag: number | undefined): Promise<boolean> {
    this.#disk.assertOpen();
    const e = this.#queues.get(name)?.get(id);
    if (!e) return false;
    checkTag(tag);
    this.#queues.get(name)?.setTag(e, tag);
    await this.#disk.write([{ type: 'put', key: queueEntryKey(name, id), value: entryValue(e) }]);
    return true;
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
    const ops: BatchOp[] = [{ type: 'del', key: queueEntryKey(name, id) }];
    let body: Buffer | undefined;
    try {
      body = await this.#disk.get(messageKey(e.ref));
    } finally {
      this.#release(e.ref, ops);
      await this.#disk.write(ops);
    }
    if (body === undefined) return undefined;
    return { id: e.id, key: e.key, tag: e.tag, expiresAt: e.expiresAt, message: decodeRecord(body) as Record<string, unknown> };
  }

  /** Removes (acks) one entry. False when it was already gone. */
  async remove(name: string, id: number): Promise<boolean> {
    this.#disk.assertOpen();
    const q = this.#queues.get(name);
    const e = q?.get(id);
    if (!q || !e) return false;
    const ops: BatchOp[] = [];
    this.#removeState(name, q, e, ops);
    await this.#disk.write(ops);
    return true;
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
