/**
 * Definitions of durable named queues (`c!<name>` → settings record) and the
 * persistent bindings of topic filters to them (`b!<queue>\0<filter>`). Small
 * and read at start, so held in memory whole.
 */
import { decodeRecord, encodeRecord } from './codec.js';
import type { Disk } from './disk.js';
import { BINDING_PREFIX, CATALOG_PREFIX, clientItemKey, escapeName, parseClientItemKey, unescapeName } from './keys.js';

export type QueueDefinition = Readonly<Record<string, unknown>>;

export class CatalogStore {
  readonly #disk: Disk;
  readonly #queues = new Map<string, QueueDefinition>();
  readonly #bindings = new Map<string, readonly [queue: string, filter: string]>();

  /** @internal built by LevelStore.open */
  constructor(disk: Disk) {
    this.#disk = disk;
  }

  /** @internal */
  async load(): Promise<void> {
    for await (const [key, value] of this.#disk.entries(CATALOG_PREFIX)) {
      this.#queues.set(unescapeName(key.slice(CATALOG_PREFIX.length)), decodeRecord(value) as QueueDefinition);
    }
    for await (const key of this.#disk.keys(BINDING_PREFIX)) {
      const { clientId: queue, item: filter } = parseClientItemKey(BINDING_PREFIX, key);
      this.#bindings.set(key, [queue, filter]);
    }
  }

  queues(): ReadonlyMap<string, QueueDefinition> {
    return this.#queues;
  }

  async putQueue(name: string, definition: QueueDefinition): Promise<void> {
    this.#queues.set(name, definition);
    await this.#disk.write([{ type: 'put', key: CATALOG_PREFIX + escapeName(name), value: encodeRecord(definition) }]);
  }

  async deleteQueue(name: string): Promise<void> {
    if (!this.#queues.delete(name)) return;
    await this.#disk.write([{ type: 'del', key: CATALOG_PREFIX + escapeName(name) }]);
  }

  bindings(): ReadonlyArray<readonly [queue: string, filter: string]> {
    return [...this.#bindings.values()];
  }

  async putBinding(queue: string, filter: string): Promise<void> {
    const key = clientItemKey(BINDING_PREFIX, queue, filter);
    if (this.#bindings.has(key)) return;
    this.#bindings.set(key, [queue, filter]);
    await this.#disk.write([{ type: 'put', key, value: Buffer.alloc(0) }]);
  }

  async deleteBinding(queue: string, filter: string): Promise<void> {
    const key = clientItemKey(BINDING_PREFIX, queue, filter);
    if (!this.#bindings.delete(key)) return;
    await this.#disk.write([{ type: 'del', key }]);
  }
}
