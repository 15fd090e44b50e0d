/**
 * The queue registry: named durable queues with competing consumers, acks,
 * redelivery, dead-lettering, expiry and length limits, and bindings that
 * route topic filters into queues. It decides; the store's queue primitive
 * (QueueBackend) persists.
 */
import { RoostError } from './errors.js';
import type { Message, Protocol, QoS } from './message.js';
import type {
  ConsumerHandle,
  DurableQueue,
  QueueConsumer,
  QueueDelivery,
  QueueRegistry,
  QueueSettings,
  QueueStats,
} from './queue.js';
import type { RouteTarget, Router } from './router.js';
import { topicFilterProblem } from './topic.js';

/** One stored entry, as the backend reads it back. */
export interface BackendEntry {
  readonly id: number;
  /** Deliveries recorded durably so far (the store's entry tag). */
  readonly tag: number | undefined;
  readonly message: Record<string, unknown>;
}

/** What the registry needs from the store; the store's QueueStore provides it. */
export interface QueueBackend {
  /**
   * Appends `message` to each queue; the entries are in the queue (and seen
   * by `read`) as soon as the call returns, and the promise resolves with
   * their ids once they are durable. When a queue is full its oldest entry is
   * dropped.
   */
  enqueue(names: readonly string[], message: Record<string, unknown>, options?: { maxLength?: number }): Promise<number[]>;
  /**
   * Up to `limit` entries after `afterId`, in order, picked when called.
   * Fewer than `limit` means none was left after them, save for entries
   * removed while their messages were being read.
   */
  read(name: string, options: { afterId?: number; limit?: number }): Promise<BackendEntry[]>;
  get(name: string, id: number): Promise<BackendEntry | undefined>;
  remove(name: string, id: number): Promise<boolean>;
  setTag(name: string, id: number, tag: number | undefined): Promise<boolean>;
  length(name: string): number;
  clear(name: string): Promise<void>;
  names(): string[];
}

/** A queue's settings as the catalog keeps them: a plain record, read back field by field. */
export type StoredQueueSettings = Readonly<Record<string, unknown>>;

/** Durable queue definitions and bindings; the store's catalog provides it. */
export interface QueueCatalog {
  queues(): ReadonlyMap<string, StoredQueueSettings>;
  putQueue(name: string, settings: StoredQueueSettings): Promise<void>;
  deleteQueue(name: string): Promise<void>;
  bindings(): ReadonlyArray<readonly [queue: string, filter: string]>;
  putBinding(queue: string, filter: string): Promise<void>;
  deleteBinding(queue: string, filter: string): Promise<void>;
}

export const DEFAULT_QUEUE_SETTINGS: QueueSettings = Object.freeze({
  maxLength: 100_000,
  overflow: 'drop-oldest',
  ttlMs: 0,
  maxDeliveries: 0,
  deadLetter: undefined as unknown as null,
  durable: true,
});

/** Store queue names: STOMP-side queues never collide with MQTT session queues (`mqtt:`). */
const DURABLE_PREFIX = 'queue:';
const TEMP_PREFIX = 'temp:';
/** Entries read from the store per dispatch pass. */
const PAGE = 256;
/** Messages kept in memory for dispatch, per queue; past it they are read back from the store. */
const FRESH_LIMIT = 4 * PAGE;

export interface QueuesOptions {
  readonly backend: QueueBackend;
  readonly catalog: QueueCatalog;
  readonly router: Router;
  readonly defaults?: Partial<QueueSettings>;
  readonly now?: () => number;
}

interface InFlight {
  readonly entryId: number;
  readonly consumer: ConsumerState;
  readonly count: number;
}

/** A message this queue appended, kept until it is handed out: `id` is set once its write landed. */
interface Fresh {
  id: number | undefined;
  failed: boolean;
  readonly stored: Record<string, unknown>;
}

interface ConsumerState {
  readonly consumer: QueueConsumer;
  /** Deliveries awaiting ack; which ones is in the queue's in-flight map. */
  unacked: number;
  closed: boolean;
}

/** Reduces any routed packet (aedes adds session fields) to the stored message shape. */
export function toStoredMessage(message: Message): Record<string, unknown> {
  const stored: Record<string, unknown> = {
    cmd: 'publish',
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: message.retain,
  };
  if (message.properties !== undefined) stored['properties'] = message.properties;
  if (message.messageExpiry !== undefined) stored['messageExpiry'] = message.messageExpiry;
  if (message.timestamp !== undefined) stored['timestamp'] = message.timestamp;
  if (message.origin !== undefined) stored['origin'] = message.origin;
  return stored;
}

function fromStored(stored: Record<string, unknown>): Message {
  const payload = stored['payload'];
  const message: { -readonly [K in keyof Message]: Message[K] } = {
    cmd: 'publish',
    topic: String(stored['topic'] ?? ''),
    payload: Buffer.isBuffer(payload) ? payload : payload instanceof Uint8Array ? Buffer.from(payload) : Buffer.alloc(0),
    qos: (stored['qos'] ?? 0) as QoS,
    retain: stored['retain'] === true,
  };
  if (stored['properties'] !== undefined) message.properties = stored['properties'] as NonNullable<Message['properties']>;
  if (typeof stored['messageExpiry'] === 'number') message.messageExpiry = stored['messageExpiry'];
  if (typeof stored['timestamp'] === 'number') message.timestamp = stored['timestamp'];
  const origin = stored['origin'] as { protocol?: Protocol } | undefined;
  if (origin && typeof origin.protocol === 'string') message.origin = origin as NonNullable<Message['origin']>;
  return message;
}

class Queue implements DurableQueue {
  readonly name: string;
  readonly settings: QueueSettings;
  readonly #storeName: string;
  readonly #registry: Queues;
  readonly #backend: QueueBackend;
  readonly #now: () => number;
  readonly #consumers: ConsumerState[] = [];
  #next = 0;
  readonly #inFlight = new Map<string, InFlight>();
  readonly #inFlightEntries = new Set<number>();
  /** Entries given back (nack, consumer gone), redelivered before new ones, in entry order. */
  #redeliver: { entryId: number; count: number }[] = [];
  /** Highest entry id handed out from the head of the queue. */
  #afterId = 0;
  /**
   * Messages appended while `#recording`, oldest first from `#freshHead`:
   * what dispatch hands out without reading back what was just written.
   */
  #fresh: Fresh[] = [];
  #freshHead = 0;
  /** Every append is recorded in `#fresh`; off after an overflow drop or past FRESH_LIMIT. */
  #recording: boolean;
  /** Every entry after `#afterId` is in `#fresh`: dispatch reads nothing from the store. */
  #caughtUp: boolean;
  /** Bumped whenever `#fresh` is dropped, so a read in progress cannot conclude it caught up. */
  #freshEpoch = 0;
  #pumping = false;
  #pumpAgain = false;
  #deadLettered = 0;
  #dropped = 0;
  #deleted = false;

  constructor(name: string, settings: QueueSettings, registry: Queues, backend: QueueBackend, now: () => number) {
    this.name = name;
    this.settings = settings;
    this.#storeName = (settings.durable ? DURABLE_PREFIX : TEMP_PREFIX) + name;
    this.#registry = registry;
    this.#backend = backend;
    this.#now = now;
    // A queue with entries from before a restart reads them from the store first.
    this.#caughtUp = this.#recording = backend.length(this.#storeName) === 0;
  }

  async enqueue(message: Message): Promise<void> {
    if (this.#deleted) throw new RoostError('QUEUE_FULL', `queue ${this.name} was deleted`);
    const { maxLength, overflow, ttlMs } = this.settings;
    if (overflow === 'reject' && this.#backend.length(this.#storeName) >= maxLength) {
      this.#dropped++;
      throw new RoostError('QUEUE_FULL', `queue ${this.name} is full (${maxLength} messages)`);
    }
    const stored = toStoredMessage(message);
    if (ttlMs > 0) {
      const ttlExpiry = this.#now() + ttlMs;
      const own = stored['messageExpiry'];
      stored['messageExpiry'] = typeof own === 'number' && own < ttlExpiry ? own : ttlExpiry;
    }
    const full = this.#backend.length(this.#storeName) >= maxLength;
    // The store drops its oldest entry in this call, which may be one held here: read from the store again.
    if (full) this.#forgetFresh();
    // Recorded in the same turn as the append, so `#fresh` is in entry order.
    const fresh: Fresh | undefined = this.#recording ? { id: undefined, failed: false, stored } : undefined;
    if (fresh !== undefined) this.#remember(fresh);
    let ids: number[];
    try {
      ids = await this.#backend.enqueue([this.#storeName], stored, { maxLength });
    } catch (err) {
      if (fresh !== undefined) fresh.failed = true;
      this.#pump();
      throw err;
    }
    if (fresh !== undefined) fresh.id = ids[0];
    if (full) this.#dropped++;
    this.#pump();
  }

  #remember(fresh: Fresh): void {
    if (this.#fresh.length - this.#freshHead >= FRESH_LIMIT) {
      // Nobody is keeping up: leave the backlog to the store rather than to memory.
      this.#forgetFresh();
      return;
    }
    this.#fresh.push(fresh);
  }

  #forgetFresh(): void {
    this.#fresh = [];
    this.#freshHead = 0;
    this.#recording = false;
    this.#caughtUp = false;
    this.#freshEpoch++;
  }

  consume(consumer: QueueConsumer): ConsumerHandle {
    const state: ConsumerState = { consumer, unacked: 0, closed: false };
    this.#consumers.push(state);
    // Not in this call: the caller gets its handle before the first delivery.
    queueMicrotask(() => this.#pump());
    return {
      ack: (id) => this.#ack(state, id),
      nack: (id) => this.#nack(state, id),
      close: () => this.#closeConsumer(state),
    };
  }

  stats(): QueueStats {
    const stored = this.#backend.length(this.#storeName);
    return {
      ready: Math.max(0, stored - this.#inFlight.size),
      unacked: this.#inFlight.size,
      expired: 0,
      deadLettered: this.#deadLettered,
      dropped: this.#dropped,
    };
  }

  /** @internal Drops every message and stops dispatch; used by `Queues.delete`. */
  async destroy(): Promise<void> {
    this.#deleted = true;
    for (const state of this.#consumers) state.closed = true;
    this.#consumers.length = 0;
    this.#inFlight.clear();
    this.#inFlightEntries.clear();
    this.#redeliver = [];
    this.#forgetFresh();
    await this.#backend.clear(this.#storeName);
  }

  async #ack(state: ConsumerState, deliveryId: string): Promise<boolean> {
    const flight = this.#inFlight.get(deliveryId);
    if (!flight || flight.consumer !== state) return false;
    this.#settle(deliveryId, flight);
    // The slot is free now: the next delivery need not wait for the delete to be written.
    this.#pump();
    await this.#backend.remove(this.#storeName, flight.entryId);
    return true;
  }

  async #nack(state: ConsumerState, deliveryId: string): Promise<boolean> {
    const flight = this.#inFlight.get(deliveryId);
    if (!flight || flight.consumer !== state) return false;
    this.#settle(deliveryId, flight);
    await this.#giveBack([flight]);
    this.#pump();
    return true;
  }

  async #closeConsumer(state: ConsumerState): Promise<void> {
    if (state.closed) return;
    state.closed = true;
    const at = this.#consumers.indexOf(state);
    if (at >= 0) this.#consumers.splice(at, 1);
    const returned: InFlight[] = [];
    // In delivery order, which the in-flight map keeps.
    for (const [id, flight] of this.#inFlight) {
      if (flight.consumer !== state) continue;
      this.#settle(id, flight);
      returned.push(flight);
    }
    await this.#giveBack(returned);
    this.#pump();
  }

  #settle(deliveryId: string, flight: InFlight): void {
    this.#inFlight.delete(deliveryId);
    this.#inFlightEntries.delete(flight.entryId);
    flight.consumer.unacked--;
  }

  /** Redelivers, or dead-letters past `maxDeliveries`. The delivery count is recorded durably. */
  async #giveBack(flights: readonly InFlight[]): Promise<void> {
    const { maxDeliveries } = this.settings;
    for (const flight of flights) {
      if (maxDeliveries > 0 && flight.count >= maxDeliveries) {
        await this.#deadLetter(flight.entryId);
        continue;
      }
      await this.#backend.setTag(this.#storeName, flight.entryId, flight.count);
      this.#redeliver.push({ entryId: flight.entryId, count: flight.count });
    }
    this.#redeliver.sort((a, b) => a.entryId - b.entryId);
  }

  async #deadLetter(entryId: number): Promise<void> {
    const entry = await this.#backend.get(this.#storeName, entryId);
    if (!entry) return;
    const target = this.settings.deadLetter;
    if (target !== null) {
      const dlq = await this.#registry.open(target, { durable: true, deadLetter: null });
      await dlq.enqueue(fromStored(entry.message));
    }
    this.#deadLettered++;
    await this.#backend.remove(this.#storeName, entryId);
  }

  /**
   * Runs dispatch passes until no consumer has room or nothing is waiting.
   * While every waiting message is held in memory, in the caller's turn and
   * without a promise; otherwise in one asynchronous run at a time.
   */
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    let fromStore = false;
    try {
      do {
        this.#pumpAgain = false;
        if (!this.#servedFromMemory()) {
          fromStore = true;
          break;
        }
        this.#handFresh();
        // A consumer acking from inside `deliver` asks again.
      } while (this.#pumpAgain);
    } finally {
      if (!fromStore) this.#pumping = false;
    }
    if (!fromStore) return;
    void this.#dispatch()
      .catch(() => undefined)
      .finally(() => {
        this.#pumping = false;
        if (this.#pumpAgain) {
          this.#pumpAgain = false;
          this.#pump();
        }
      });
  }

  #servedFromMemory(): boolean {
    return this.#caughtUp && this.#redeliver.length === 0 && !this.#deleted;
  }

  async #dispatch(): Promise<void> {
    for (;;) {
      if (this.#deleted) return;
      const room = this.#room();
      if (room === 0) return;
      let handed = 0;
      while (this.#redeliver.length > 0 && handed < room) {
        const next = this.#redeliver.shift() as { entryId: number; count: number };
        const entry = await this.#backend.get(this.#storeName, next.entryId);
        if (entry && this.#handOrRequeue(entry, next.count + 1)) handed++;
      }
      if (this.#deleted) return;
      if (this.#caughtUp) {
        if (this.#redeliver.length === 0) handed += this.#handFresh();
      } else if (handed < room) {
        handed += await this.#readPage(room - handed);
        // The page ended the queue: what follows is held in memory.
        if (this.#caughtUp) continue;
      }
      if (handed === 0) return;
    }
  }

  /** Hands out the next entries from the store; may find that everything after them is held in memory. */
  async #readPage(room: number): Promise<number> {
    if (!this.#recording) {
      this.#recording = true;
      this.#fresh = [];
      this.#freshHead = 0;
    }
    // Appended before the read, so in the page if still there: dropped from memory if the page ends the queue.
    const before = this.#fresh.length;
    const epoch = this.#freshEpoch;
    const limit = Math.min(room, PAGE);
    const page = await this.#backend.read(this.#storeName, { afterId: this.#afterId, limit });
    let handed = 0;
    for (const entry of page) {
      if (entry.id > this.#afterId) this.#afterId = entry.id;
      if (this.#inFlightEntries.has(entry.id)) continue;
      if (this.#handOrRequeue(entry, (entry.tag ?? 0) + 1)) handed++;
    }
    if (page.length < limit && epoch === this.#freshEpoch && !this.#deleted) {
      this.#freshHead = Math.max(this.#freshHead, before);
      this.#caughtUp = true;
    }
    return handed;
  }

  /** Hands out held messages whose writes landed, in order, while a consumer has room. */
  #handFresh(): number {
    let handed = 0;
    const now = this.#now();
    while (this.#freshHead < this.#fresh.length && this.#consumerWithRoom() !== undefined) {
      const fresh = this.#fresh[this.#freshHead] as Fresh;
      // Delivered only once durable, like everything read from the store.
      if (fresh.id === undefined && !fresh.failed) break;
      this.#freshHead++;
      if (fresh.failed || (fresh.id as number) <= this.#afterId) continue;
      const id = fresh.id as number;
      this.#afterId = id;
      const expiry = fresh.stored['messageExpiry'];
      if (typeof expiry === 'number' && expiry <= now) {
        void this.#backend.remove(this.#storeName, id).catch(() => undefined);
        continue;
      }
      this.#hand({ id, tag: undefined, message: fresh.stored }, 1);
      handed++;
    }
    if (this.#freshHead === this.#fresh.length) {
      this.#fresh = [];
      this.#freshHead = 0;
    } else if (this.#freshHead >= PAGE && this.#freshHead * 2 >= this.#fresh.length) {
      this.#fresh = this.#fresh.slice(this.#freshHead);
      this.#freshHead = 0;
    }
    return handed;
  }

  /** Free delivery slots across consumers, capped per pass. */
  #room(): number {
    let room = 0;
    for (const state of this.#consumers) {
      const prefetch = state.consumer.prefetch;
      room += prefetch === 0 ? PAGE : Math.max(0, prefetch - state.unacked);
      if (room >= PAGE) return PAGE;
    }
    return room;
  }

  /** The next consumer with room, round-robin from `#next`; undefined when all are full. */
  #consumerWithRoom(): number | undefined {
    const n = this.#consumers.length;
    for (let i = 0; i < n; i++) {
      const at = (this.#next + i) % n;
      const state = this.#consumers[at] as ConsumerState;
      const prefetch = state.consumer.prefetch;
      if (prefetch === 0 || state.unacked < prefetch) return at;
    }
    return undefined;
  }

  /** `#hand`, or, when nobody has room, keeps `entry` first in line. */
  #handOrRequeue(entry: BackendEntry, count: number): boolean {
    if (this.#hand(entry, count)) return true;
    if (!this.#inFlightEntries.has(entry.id)) this.#redeliver.unshift({ entryId: entry.id, count: count - 1 });
    return false;
  }

  /** Hands `entry` to the next consumer with room, round-robin. False when nobody has room. */
  #hand(entry: BackendEntry, count: number): boolean {
    const at = this.#consumerWithRoom();
    if (at === undefined) return false;
    const state = this.#consumers[at] as ConsumerState;
    this.#next = (at + 1) % this.#consumers.length;
    const deliveryId = this.#registry.nextDeliveryId();
    const delivery: QueueDelivery = {
      deliveryId,
      queue: this.name,
      message: fromStored(entry.message),
      deliveryCount: count,
      redelivered: count > 1,
    };
    if (state.consumer.autoAck) {
      // At-most-once: gone from the store as it is handed over.
      void this.#backend.remove(this.#storeName, entry.id).catch(() => undefined);
    } else {
      const flight: InFlight = { entryId: entry.id, consumer: state, count };
      this.#inFlight.set(deliveryId, flight);
      this.#inFlightEntries.add(entry.id);
      state.unacked++;
    }
    state.consumer.deliver(delivery);
    return true;
  }
}

/**
 * The broker's queues. Open ones live in memory; durable definitions and
 * persistent bindings are kept in the catalog and restored by `start()`.
 */
export class Queues implements QueueRegistry {
  readonly #backend: QueueBackend;
  readonly #catalog: QueueCatalog;
  readonly #router: Router;
  readonly #defaults: QueueSettings;
  readonly #now: () => number;
  readonly #queues = new Map<string, Queue>();
  readonly #bindings = new Map<string, RouteTarget>();
  #deliverySeq = 0;

  constructor(options: QueuesOptions) {
    this.#backend = options.backend;
    this.#catalog = options.catalog;
    this.#router = options.router;
    this.#defaults = { ...DEFAULT_QUEUE_SETTINGS, deadLetter: null, ...options.defaults };
    this.#now = options.now ?? Date.now;
  }

  /** Drops what temp queues left behind and restores durable queues and persistent bindings. */
  async start(): Promise<void> {
    for (const name of this.#backend.names()) {
      if (name.startsWith(TEMP_PREFIX)) await this.#backend.clear(name);
    }
    for (const [name, stored] of this.#catalog.queues()) await this.open(name, settingsOf(stored));
    for (const [queue, filter] of this.#catalog.bindings()) await this.bind(queue, filter);
  }

  /** @internal */
  nextDeliveryId(): string {
    return String(++this.#deliverySeq);
  }

  opened(name: string): DurableQueue | undefined {
    return this.#queues.get(name);
  }

  async open(name: string, settings: Partial<QueueSettings> = {}): Promise<DurableQueue> {
    const known = this.#queues.get(name);
    if (known) return known;
    const resolved: QueueSettings = {
      ...this.#defaults,
      deadLetter: name.startsWith('DLQ.') ? null : `DLQ.${name}`,
      ...stripUndefined(settings),
    };
    const queue = new Queue(name, resolved, this, this.#backend, this.#now);
    this.#queues.set(name, queue);
    if (resolved.durable && !this.#catalog.queues().has(name)) await this.#catalog.putQueue(name, { ...settings });
    return queue;
  }

  async bind(queue: string, filter: string, options: { readonly persistent?: boolean } = {}): Promise<void> {
    const problem = topicFilterProblem(filter);
    if (problem) throw new RoostError('FILTER_INVALID', `cannot bind queue ${queue} to ${JSON.stringify(filter)}: the filter ${problem}`);
    const key = `${queue}\u0000${filter}`;
    if (this.#bindings.has(key)) return;
    const target = await this.open(queue);
    const routeTarget: RouteTarget = {
      durable: true,
      deliver: (message, accepted) => {
        target.enqueue(message).then(() => accepted(), (err: Error) => accepted(err));
      },
    };
    this.#bindings.set(key, routeTarget);
    this.#router.subscribe(filter, routeTarget);
    if (options.persistent) await this.#catalog.putBinding(queue, filter);
  }

  async unbind(queue: string, filter: string): Promise<void> {
    const key = `${queue}\u0000${filter}`;
    const target = this.#bindings.get(key);
    if (target) {
      this.#router.unsubscribe(filter, target);
      this.#bindings.delete(key);
    }
    await this.#catalog.deleteBinding(queue, filter);
  }

  async delete(name: string): Promise<void> {
    for (const [key, target] of this.#bindings) {
      const [queue, filter] = key.split('\u0000') as [string, string];
      if (queue !== name) continue;
      this.#router.unsubscribe(filter, target);
      this.#bindings.delete(key);
      await this.#catalog.deleteBinding(queue, filter);
    }
    const queue = this.#queues.get(name);
    this.#queues.delete(name);
    if (queue) await queue.destroy();
    if (this.#catalog.queues().has(name)) await this.#catalog.deleteQueue(name);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/**
 * The settings in a catalog record: each field kept only when it has the
 * right type, so a record from another version falls back to the defaults
 * field by field instead of carrying a wrong value into a queue.
 */
function settingsOf(stored: StoredQueueSettings): Partial<QueueSettings> {
  const { maxLength, overflow, ttlMs, maxDeliveries, deadLetter, durable } = stored;
  return {
    ...(typeof maxLength === 'number' && { maxLength }),
    ...((overflow === 'drop-oldest' || overflow === 'reject') && { overflow }),
    ...(typeof ttlMs === 'number' && { ttlMs }),
    ...(typeof maxDeliveries === 'number' && { maxDeliveries }),
    ...((typeof deadLetter === 'string' || deadLetter === null) && { deadLetter }),
    ...(typeof durable === 'boolean' && { durable }),
  };
}
