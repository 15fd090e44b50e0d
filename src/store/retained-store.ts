/**
 * Retained messages: one LevelDB record per topic (`r!<topic>`), indexed in
 * memory by RetainedIndex (loaded at open), so a wildcard lookup reads only
 * the records of matching topics.
 */
import { decodeRecord, encodeRecord } from './codec.js';
import type { Disk } from './disk.js';
import { RETAINED_PREFIX, retainedKey } from './keys.js';
import { RetainedIndex } from './retained-index.js';

/** The fields the store reads from a retained message; every other field is kept as given. */
export interface RetainedRecord {
  readonly topic: string;
  readonly payload: Buffer | Uint8Array | string;
  readonly [field: string]: unknown;
}

export class RetainedStore {
  readonly #disk: Disk;
  readonly #index = new RetainedIndex();
  readonly #now: () => number;

  /** @internal built by LevelStore.open */
  constructor(disk: Disk, now: () => number) {
    this.#disk = disk;
    this.#now = now;
  }

  /** @internal Loads the topic index from the keys alone. */
  async load(): Promise<void> {
    for await (const key of this.#disk.keys(RETAINED_PREFIX)) this.#index.add(key.slice(RETAINED_PREFIX.length));
  }

  /** Number of retained topics. */
  get size(): number {
    return this.#index.size;
  }

  /**
   * Stores `message` as the retained message of its topic, replacing any
   * other; an empty payload deletes it [MQTT-3.3.1-6]. Resolves once written.
   * @throws RoostError STORE_CLOSED | STORE_UNWRITABLE
   */
  async put(message: RetainedRecord): Promise<void> {
    this.#disk.assertOpen();
    const key = retainedKey(message.topic);
    if (message.payload.length === 0) {
      this.#index.delete(message.topic);
      await this.#disk.write([{ type: 'del', key }]);
      return;
    }
    this.#index.add(message.topic);
    const size = typeof message.payload === 'string' ? message.payload.length * 3 : message.payload.length;
    await this.#disk.write([{ type: 'put', key, value: encodeRecord(message, size) }]);
  }

  /** The topics matching any of `filters`, each once, in filter order then trie order. Memory only. */
  topics(filters: readonly string[]): string[] {
    if (filters.length === 1) return this.#index.match(filters[0] as string);
    const seen = new Set<string>();
    const out: string[] = [];
    for (const filter of filters) for (const topic of this.#index.match(filter)) if (!seen.has(topic)) {
      seen.add(topic);
      out.push(topic);
    }
    return out;
  }

  /**
   * Retained messages whose topic matches any of `filters`, each once (a topic
   * matching two filters of one SUBSCRIBE is sent once). Messages whose
   * absolute `messageExpiry` has passed are skipped and deleted.
   */
  async match(filters: readonly string[]): Promise<Array<Record<string, unknown>>> {
    this.#disk.assertOpen();
    const topics = this.topics(filters);
    if (topics.length === 0) return [];
    const bodies = await this.#disk.getMany(topics.map(retainedKey));
    const now = this.#now();
    const out: Array<Record<string, unknown>> = [];
    for (const body of bodies) {
      if (body === undefined) continue;
      const message = decodeRecord(body) as Record<string, unknown>;
      const expiry = message['messageExpiry'];
      if (typeof expiry === 'number' && expiry > 0 && expiry <= now) {
        const topic = message['topic'] as string;
        this.#index.delete(topic);
        this.#disk.write([{ type: 'del', key: retainedKey(topic) }]).catch(() => undefined);
        continue;
      }
      out.push(message);
    }
    return out;
  }
}
