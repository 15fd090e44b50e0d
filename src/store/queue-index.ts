/**
 * The in-memory index of one queue: its entries in append order, plus lookups
 * by key and by tag so that matching an acknowledgement or an in-flight update
 * to its entry does not scan the queue. Internal to QueueStore.
 */

export interface EntryState {
  readonly id: number;
  ref: number;
  key: string | undefined;
  tag: number | undefined;
  /** Epoch ms; 0 means never. */
  expiresAt: number;
  /** True when `tag` was set in memory only and the entry on disk still holds an older one. */
  tagUnsaved: boolean;
}

/** id, or a Set of ids once two entries share the value: most keys and tags are unique. */
type Ids = number | Set<number>;

function addTo<K>(map: Map<K, Ids>, k: K, id: number): void {
  const ids = map.get(k);
  if (ids === undefined) map.set(k, id);
  else if (typeof ids === 'number') map.set(k, new Set([ids, id]));
  else ids.add(id);
}

function removeFrom<K>(map: Map<K, Ids>, k: K, id: number): void {
  const ids = map.get(k);
  if (ids === id) map.delete(k);
  else if (typeof ids === 'object' && ids.delete(id) && ids.size === 0) map.delete(k);
}

export class QueueIndex {
  /** What every key of this queue's entries starts with (keys.ts `queuePrefix`), built once. */
  readonly keyPrefix: string;
  readonly #entries = new Map<number, EntryState>();
  /** Built on the first lookup, then kept: a queue nobody looks into (an offline session) never pays for it. */
  #byKey: Map<string, Ids> | undefined;
  #byTag: Map<number, Ids> | undefined;
  #lastId = 0;

  constructor(keyPrefix = '') {
    this.keyPrefix = keyPrefix;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Highest id appended and still present, or 0 when unknown/empty. */
  get lastId(): number {
    if (!this.#entries.has(this.#lastId)) {
      // The newest entry left: ids are in append order, so the last one is the highest.
      this.#lastId = 0;
      for (const id of this.#entries.keys()) this.#lastId = id;
    }
    return this.#lastId;
  }

  get(id: number): EntryState | undefined {
    return this.#entries.get(id);
  }

  /** Appends `e`; ids must arrive in increasing order (load is in key order, appends take a new seq). */
  append(e: EntryState): void {
    this.#entries.set(e.id, e);
    if (e.id > this.#lastId) this.#lastId = e.id;
    if (this.#byKey && e.key !== undefined) addTo(this.#byKey, e.key, e.id);
    if (this.#byTag && e.tag !== undefined) addTo(this.#byTag, e.tag, e.id);
  }

  delete(e: EntryState): void {
    this.#entries.delete(e.id);
    if (this.#byKey && e.key !== undefined) removeFrom(this.#byKey, e.key, e.id);
    if (this.#byTag && e.tag !== undefined) removeFrom(this.#byTag, e.tag, e.id);
  }

  first(): EntryState | undefined {
    return this.#entries.values().next().value;
  }

  values(): IterableIterator<EntryState> {
    return this.#entries.values();
  }

  setKey(e: EntryState, key: string | undefined): void {
    if (this.#byKey && e.key !== undefined) removeFrom(this.#byKey, e.key, e.id);
    e.key = key;
    if (this.#byKey && key !== undefined) addTo(this.#byKey, key, e.id);
  }

  setTag(e: EntryState, tag: number | undefined): void {
    if (this.#byTag && e.tag !== undefined) removeFrom(this.#byTag, e.tag, e.id);
    e.tag = tag;
    if (this.#byTag && tag !== undefined) addTo(this.#byTag, tag, e.id);
  }

  /** Entries with key `key`, oldest first. */
  withKey(key: string): EntryState[] {
    if (!this.#byKey) {
      this.#byKey = new Map();
      for (const e of this.#entries.values()) if (e.key !== undefined) addTo(this.#byKey, e.key, e.id);
    }
    return this.#collect(this.#byKey.get(key));
  }

  /** Entries with tag `tag`, oldest first. */
  withTag(tag: number): EntryState[] {
    return this.#collect(this.#tags().get(tag));
  }

  /** The oldest entry with tag `tag`; allocates nothing when one entry has it. */
  firstWithTag(tag: number): EntryState | undefined {
    const ids = this.#tags().get(tag);
    if (typeof ids === 'number') return this.#entries.get(ids);
    return this.#collect(ids)[0];
  }

  /** True when an entry has tag `tag`; allocates nothing. */
  hasTag(tag: number): boolean {
    return this.#tags().has(tag);
  }

  #tags(): Map<number, Ids> {
    if (!this.#byTag) {
      this.#byTag = new Map();
      for (const e of this.#entries.values()) if (e.tag !== undefined) addTo(this.#byTag, e.tag, e.id);
    }
    return this.#byTag;
  }

  #collect(ids: Ids | undefined): EntryState[] {
    if (ids === undefined) return [];
    if (typeof ids === 'number') {
      const e = this.#entries.get(ids);
      return e ? [e] : [];
    }
    const out: EntryState[] = [];
    for (const id of ids) {
      const e = this.#entries.get(id);
      if (e) out.push(e);
    }
    // A Set keeps insertion order, which setKey/setTag can take out of id order.
    if (out.length > 1) out.sort((a, b) => a.id - b.id);
    return out;
  }
}
