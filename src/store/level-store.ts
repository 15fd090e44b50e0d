/**
 * Roost's store: one LevelDB in the data dir, written through group commit,
 * with retained messages, durable queues and session records on top.
 * See docs/store.md for the key layout and the recovery rules.
 */
import { mkdir } from 'node:fs/promises';
import { Level } from 'level';
import { RoostError } from '../core/errors.js';
import type { Durability } from '../config/types.js';
import { Disk } from './disk.js';
import type { GroupCommitStats } from './group-commit.js';
import { LAYOUT_VERSION, SHUTDOWN_KEY, VERSION_KEY } from './keys.js';
import { dataDirError, openError } from './open-errors.js';
import { QueueStore, type QueueStats } from './queue-store.js';
import { RetainedStore } from './retained-store.js';
import { CatalogStore } from './catalog-store.js';
import { SessionStore } from './session-store.js';

export interface LevelStoreOptions {
  /** Directory holding the LevelDB files; created (with parents) if missing. */
  readonly dataDir: string;
  /** `os`: each batch is handed to the OS (survives a process crash); `fsync`: each batch is synced (survives power loss). */
  readonly durability: Durability;
  /** Default cap of entries per queue; past it the oldest entry is dropped and counted. At least 1. */
  readonly maxQueuedMessages: number;
  /** Clock for expiry, epoch ms; tests inject one. */
  readonly now?: () => number;
}

/** Counters since open; read them, never write them. */
export interface StoreStats extends QueueStats, GroupCommitStats {}

export class LevelStore {
  readonly dataDir: string;
  readonly durability: Durability;
  readonly retained: RetainedStore;
  readonly queues: QueueStore;
  readonly sessions: SessionStore;
  readonly catalog: CatalogStore;
  readonly #db: Level<string, Buffer>;
  readonly #disk: Disk;
  /** Only a store that loaded completely marks a clean shutdown: a failed open must not hide a crash before it. */
  #loaded = false;
  #closing: Promise<void> | undefined;

  private constructor(options: LevelStoreOptions, db: Level<string, Buffer>, seq: { next: number }) {
    this.dataDir = options.dataDir;
    this.durability = options.durability;
    this.#db = db;
    this.#disk = new Disk(db, options.durability);
    const now = options.now ?? Date.now;
    this.retained = new RetainedStore(this.#disk, now);
    this.queues = new QueueStore(this.#disk, options.maxQueuedMessages, () => seq.next++, now);
    this.sessions = new SessionStore(this.#disk);
    this.catalog = new CatalogStore(this.#disk);
  }

  /**
   * Opens (creating if needed) the store in `dataDir` and loads its in-memory
   * indexes. Nothing else may have the directory open.
   * @throws RoostError STORE_LOCKED (another process has it open) |
   *   STORE_UNWRITABLE | STORE_CORRUPT | STORE_VERSION_UNSUPPORTED (written by a newer roost)
   */
  static async open(options: LevelStoreOptions): Promise<LevelStore> {
    const { dataDir, durability, maxQueuedMessages } = options;
    if (durability !== 'os' && durability !== 'fsync') throw new RoostError('CONFIG_INVALID', `store durability: expected "os" or "fsync", got ${JSON.stringify(durability)}`);
    if (!Number.isSafeInteger(maxQueuedMessages) || maxQueuedMessages < 1) throw new RoostError('CONFIG_INVALID', `store maxQueuedMessages: expected an integer ≥ 1, got ${String(maxQueuedMessages)}`);
    try {
      await mkdir(dataDir, { recursive: true });
    } catch (err) {
      throw dataDirError(dataDir, err);
    }
    const db = new Level<string, Buffer>(dataDir, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    try {
      await db.open();
    } catch (err) {
      throw openError(dataDir, err);
    }
    const seq = { next: 1 };
    const store = new LevelStore(options, db, seq);
    try {
      const isNew = await store.#checkVersion();
      const cleanShutdown = isNew || (await store.#takeShutdownMark());
      await store.retained.load();
      await store.sessions.load();
      await store.catalog.load();
      seq.next = (await store.queues.load(!cleanShutdown)) + 1;
      await store.#disk.commit.flushed();
      store.#loaded = true;
    } catch (err) {
      await store.close().catch(() => undefined);
      if (err instanceof RoostError) throw err;
      throw new RoostError('STORE_CORRUPT', `data dir ${dataDir} could not be loaded (${(err as Error).message}); restore it from a backup or move it away to start empty`, { cause: err });
    }
    return store;
  }

  /** True when the store is new (and now stamped with this layout). */
  async #checkVersion(): Promise<boolean> {
    const stored = await this.#db.get(VERSION_KEY);
    if (stored === undefined) {
      await this.#stampVersion();
      return true;
    }
    const version = Number(stored.toString('latin1'));
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new RoostError('STORE_CORRUPT', `data dir ${this.dataDir} has an unreadable layout version; restore it from a backup or move it away to start empty`);
    }
    if (version > LAYOUT_VERSION) {
      throw new RoostError(
        'STORE_VERSION_UNSUPPORTED',
        `data dir ${this.dataDir} was written by a newer roost (store layout v${version}, this build reads up to v${LAYOUT_VERSION}); upgrade roost or choose another --data-dir`,
      );
    }
    // Older layouts are read as they are; the new number keeps older builds from misreading what this one writes.
    if (version < LAYOUT_VERSION) await this.#stampVersion();
    return false;
  }

  #stampVersion(): Promise<void> {
    return this.#disk.write([{ type: 'put', key: VERSION_KEY, value: Buffer.from(String(LAYOUT_VERSION)) }]);
  }

  /** True when the last run closed the store; deletes the mark so that the next open can tell again. */
  async #takeShutdownMark(): Promise<boolean> {
    if ((await this.#db.get(SHUTDOWN_KEY)) === undefined) return false;
    await this.#disk.write([{ type: 'del', key: SHUTDOWN_KEY }]);
    return true;
  }

  /** Counters since open: `droppedOverflow`, `expired`, `batches`, `ops`, `largestBatch`. */
  get stats(): StoreStats {
    const q = this.queues.stats;
    const c = this.#disk.commit.stats;
    return { droppedOverflow: q.droppedOverflow, expired: q.expired, batches: c.batches, ops: c.ops, largestBatch: c.largestBatch };
  }

  /** Resolves once every write requested so far is on disk. */
  flushed(): Promise<void> {
    return this.#disk.commit.flushed();
  }

  /**
   * Waits for pending writes, then closes LevelDB and releases the lock.
   * Idempotent. Calls after it throw STORE_CLOSED; close it after everything
   * that writes to it (listeners, router, aedes) has stopped.
   */
  close(): Promise<void> {
    return (this.#closing ??= this.#shutdown());
  }

  async #shutdown(): Promise<void> {
    await this.#disk.commit.flushed();
    this.#disk.markClosed();
    // A write may have slipped in between the flush and the mark: let it land too.
    await this.#disk.commit.flushed();
    try {
      // Past the closed mark, so nothing else joins: the in-memory tags, and the mark that says they are all on disk.
      if (this.#loaded) {
        const tags = await this.queues.unsavedTags((keys) => this.#db.getMany(keys));
        await this.#disk.commit.submit([...tags, { type: 'put', key: SHUTDOWN_KEY, value: Buffer.alloc(0) }]);
      }
    } finally {
      await this.#db.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
