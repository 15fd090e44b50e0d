/**
 * The one handle on the LevelDB instance that the store's parts share: group
 * committed writes, and reads that see writes still waiting for their batch.
 * Internal to src/store.
 */
import type { Level } from 'level';
import { RoostError } from '../core/errors.js';
import type { Durability } from '../config/types.js';
import { GroupCommit, type BatchOp } from './group-commit.js';
import { prefixRange } from './keys.js';

const BUFFER = { keyEncoding: 'utf8', valueEncoding: 'buffer' } as const;

export class Disk {
  readonly #db: Level<string, Buffer>;
  readonly commit: GroupCommit;
  #closed = false;

  constructor(db: Level<string, Buffer>, durability: Durability) {
    this.#db = db;
    const sync = durability === 'fsync';
    this.commit = new GroupCommit(async (ops) => {
      // A chained batch: one native call per operation with its key and value
      // as arguments. The array form makes LevelDB's binding read every
      // operation's fields back out of an object, several times the cost.
      const batch = this.#db.batch();
      let written = false;
      try {
        for (const op of ops) {
          if (op.type === 'put') batch.put(op.key, op.value);
          else batch.del(op.key);
        }
        written = true;
        await batch.write({ sync });
      } catch (err) {
        // write() closes the batch itself, failed or not.
        if (!written) await batch.close().catch(() => undefined);
        throw new RoostError('STORE_UNWRITABLE', `store write failed: ${(err as Error).message}`, { cause: err });
      }
    });
  }

  /** Marks the disk closed; later writes and reads throw STORE_CLOSED. */
  markClosed(): void {
    this.#closed = true;
  }

  assertOpen(): void {
    if (this.#closed) throw new RoostError('STORE_CLOSED', 'the store is closed');
  }

  /** Submits `ops` to the next batch; resolves once it is written. @throws RoostError STORE_CLOSED | STORE_UNWRITABLE */
  write(ops: readonly BatchOp[]): Promise<void> {
    if (this.#closed) return Promise.reject(new RoostError('STORE_CLOSED', 'the store is closed'));
    return this.commit.submit(ops);
  }

  /** Submits `ops` to the next batch without waiting for it; see GroupCommit.submitDetached. @throws RoostError STORE_CLOSED */
  writeDetached(ops: readonly BatchOp[]): void {
    this.assertOpen();
    this.commit.submitDetached(ops);
  }

  /** The value of `key`, including a write not yet on disk. */
  async get(key: string): Promise<Buffer | undefined> {
    this.assertOpen();
    const pending = this.commit.pending(key);
    if (pending !== undefined) return pending ?? undefined;
    return this.#db.get(key, BUFFER);
  }

  /** Values of `keys` in order, including writes not yet on disk; one LevelDB call for the rest. */
  async getMany(keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    this.assertOpen();
    const out: Array<Buffer | undefined> = new Array<Buffer | undefined>(keys.length);
    const missing: string[] = [];
    const missingAt: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const pending = this.commit.pending(key);
      if (pending === undefined) {
        missing.push(key);
        missingAt.push(i);
      } else {
        out[i] = pending ?? undefined;
      }
    }
    if (missing.length > 0) {
      const found = await this.#db.getMany(missing, BUFFER);
      for (let j = 0; j < found.length; j++) out[missingAt[j] as number] = found[j];
    }
    return out;
  }

  /** Every key under `prefix`, in key order. Only used while loading, before any write. */
  async *keys(prefix: string): AsyncGenerator<string> {
    for await (const key of this.#db.keys({ ...prefixRange(prefix), keyEncoding: 'utf8' })) yield key;
  }

  /** Every entry under `prefix`, in key order. Only used while loading, before any write. */
  async *entries(prefix: string): AsyncGenerator<[string, Buffer]> {
    for await (const [key, value] of this.#db.iterator({ ...prefixRange(prefix), ...BUFFER })) yield [key, value];
  }
}
