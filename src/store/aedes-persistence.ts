/**
 * The aedes persistence adapter: aedes' async persistence interface (see
 * aedes-persistence/asyncPersistence.js) on top of LevelStore. aedes calls
 * `await persistence.setup(broker)` and checks that `setup` is an async
 * function; everything else returns a promise or a Readable.
 *
 * Mapping:
 * - retained messages → `store.retained` (trie in memory, bodies on disk);
 * - subscriptions → `store.sessions`, indexed here by a filter trie so
 *   `subscriptionsByTopic` walks matching branches only;
 * - a client's outgoing (offline and in-flight) packets → the durable queue
 *   `mqtt:<clientId>`, one message record shared by every client it fans out
 *   to; the queue entry's key is the packet's brokerId + brokerCounter and its
 *   tag the packet identifier (messageId) once one is assigned. A QoS 1
 *   packet id is kept in memory only (written at a clean close): losing it in
 *   a crash costs a redelivery with a new id and DUP set, which QoS 1 allows,
 *   and saves a write per delivery. A QoS 2 id and a PUBREL are written
 *   before the packet is sent: the receiver holds state under that id.
 *   PUBACK/PUBCOMP removals are not waited for (a lost one is a redelivery);
 * - wills and incoming QoS 2 packets → `store.sessions`.
 *
 * `$share/<group>/<filter>` subscriptions are stored like any other and
 * indexed apart: a shared group is served live by Roost's router, and
 * queueing for every persistent member would deliver each message once per
 * member instead of once per group. `subscriptionsByTopic` adds, per group
 * whose filter matches, the one member `chooseShared` names (none unless
 * the group has no live member: see `offlineSharedChooser`).
 */
import { Readable } from 'node:stream';
import { RoostError } from '../core/errors.js';
import { parseShared } from '../core/topic.js';
import type { LevelStore } from './level-store.js';
import type { QueueCursor, QueueEntry, QueueEntryInfo } from './queue-store.js';
import { SubscriptionIndex, type IndexedSubscription } from './subscription-index.js';

/** The parts of an aedes client the persistence reads. */
export interface ClientRef {
  readonly id: string;
}

/** The parts of an aedes broker the persistence reads. */
export interface BrokerRef {
  readonly id: string;
}

/** An aedes packet (publish, pubrel, will…); fields beyond these are stored as given. */
export interface PacketLike {
  cmd?: string;
  topic?: string;
  payload?: Buffer | Uint8Array | string;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  messageId?: number | undefined;
  brokerId?: string;
  brokerCounter?: number;
  messageExpiry?: number;
  properties?: Record<string, unknown>;
  clientId?: string;
  [field: string]: unknown;
}

export interface SubscriptionLike {
  readonly topic: string;
  readonly qos: number;
  readonly rh?: number;
  readonly rap?: boolean;
  readonly nl?: boolean;
  readonly subscriptionIdentifier?: number;
}

export interface AedesPersistenceOptions {
  /** `destroy()` also closes the store. Default false: the broker closes the store itself, after aedes (aedes 2.0 never calls destroy). */
  readonly ownsStore?: boolean;
  /** Which member of a shared group a message is queued for; without it, none is. */
  readonly chooseShared?: SharedChooser;
}

/** A stored QoS > 0 `$share/<group>/<filter>` subscription of one client. */
export interface SharedMember extends IndexedSubscription {
  readonly group: string;
  readonly filter: string;
}

/**
 * Given a shared group's persistent members whose filter matches a message's
 * topic (in the order they subscribed), the one the message is queued for,
 * or undefined for none.
 */
export type SharedChooser = (group: string, filter: string, members: readonly SharedMember[]) => SharedMember | undefined;

/** The queue that holds `clientId`'s outgoing packets. STOMP and others use other prefixes. */
export function mqttQueueName(clientId: string): string {
  return `mqtt:${clientId}`;
}

/** One key for two names; NUL cannot occur in either (MQTT strings exclude U+0000). */
function sharedKey(group: string, name: string): string {
  return `${group}\u0000${name}`;
}

function hasOwn(o: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

/**
 * The shape aedes' own Packet wrapper gives a packet when it is queued (only
 * the fields it copies, defaults filled, messageId cleared for QoS > 0), so
 * what comes back out of the queue is what aedes expects to see.
 */
function queuedPacket(original: PacketLike): PacketLike {
  const p: PacketLike = {};
  if (hasOwn(original, 'clientId')) p.clientId = original.clientId as string;
  if (hasOwn(original, 'nl')) p['nl'] = original['nl'];
  if (hasOwn(original, 'properties')) p.properties = original.properties as Record<string, unknown>;
  if (hasOwn(original, 'messageExpiry')) p.messageExpiry = original.messageExpiry as number;
  p.cmd = original.cmd || 'publish';
  // Kept even when undefined, as aedes' Packet does: aedes compares the field sets.
  p.brokerId = original.brokerId as string;
  p.brokerCounter = original.brokerCounter || 0;
  p.topic = original.topic as string;
  p.payload = original.payload || Buffer.alloc(0);
  p.qos = original.qos || 0;
  p.retain = original.retain || false;
  p.dup = original.dup || false;
  // [MQTT-2.3.1-5] a packet identifier belongs to one delivery, not to the stored message.
  if (p.qos > 0 || p.cmd !== 'publish') p.messageId = undefined;
  return p;
}

/** A plain copy of `packet`'s own data fields (QoSPacket carries a bound writeCallback). */
function plain(packet: PacketLike): PacketLike {
  const out: PacketLike = {};
  for (const key of Object.keys(packet)) if (typeof packet[key] !== 'function') out[key] = packet[key];
  return out;
}

const SEP = '\u0000';

/** The entry key: which broker published it and its counter there; `===` semantics kept via String(). */
function brokerKey(packet: PacketLike): string {
  const id = packet.brokerId;
  return (typeof id === 'string' ? `s${id}` : 'u') + SEP + String(packet.brokerCounter);
}

function brokerPart(key: string): string {
  return key.slice(0, key.lastIndexOf(SEP));
}

function toPacket(entry: QueueEntry): PacketLike {
  const packet = entry.message as PacketLike;
  if (entry.tag !== undefined) packet.messageId = entry.tag;
  // Its id was lost in a crash, so it may have been sent before. [MQTT-3.3.1-1]
  else if (entry.uncertain && packet.cmd === 'publish' && (packet.qos ?? 0) > 0) packet.dup = true;
  return packet;
}

/** A packet sent and not yet acknowledged, found by its id without reading the store. */
interface InFlight {
  readonly entryId: number;
  /** What `outgoingClearMessageId` resolves with. */
  readonly packet: PacketLike;
}

/** A packet an outgoing stream handed out, until `outgoingUpdate` claims it. */
interface Streamed {
  readonly brokerId: unknown;
  readonly entryId: number;
}

/**
 * An object-mode Readable fed a page at a time: one promise per page instead
 * of one per item, which is what makes draining a long queue cheap.
 * `nextPage` resolves undefined when there is no more.
 */
function pagedReadable<T>(nextPage: () => Promise<T[] | undefined>): Readable {
  return new Readable({
    objectMode: true,
    // As Readable.from: the buffer is the page already read, not a read-ahead.
    highWaterMark: 1,
    read() {
      nextPage().then(
        (page) => {
          if (page === undefined) {
            this.push(null);
            return;
          }
          if (page.length === 0) {
            // Nothing pushed means read() is not called again: ask for the next page now.
            this._read(0);
            return;
          }
          for (const item of page) this.push(item);
        },
        (err: unknown) => this.destroy(err as Error),
      );
    },
  });
}

function notFound(what: string): RoostError {
  return new RoostError('STORE_NOT_FOUND', `no such ${what}`);
}

export class AedesLevelPersistence {
  readonly #store: LevelStore;
  readonly #ownsStore: boolean;
  readonly #index = new SubscriptionIndex();
  /** `$share` subscriptions, under their inner filter and keyed by group and client. */
  readonly #shared = new SubscriptionIndex();
  readonly #chooseShared: SharedChooser | undefined;
  // Per connection (aedes' client object), so they go with the connection.
  /** messageId → packet sent under it. */
  readonly #inFlight = new WeakMap<ClientRef, Map<number, InFlight>>();
  /** brokerCounter → entry of a packet the latest outgoing stream handed out. */
  readonly #streamed = new WeakMap<ClientRef, Map<number, Streamed>>();
  /** The latest update still being written. */
  readonly #updating = new WeakMap<ClientRef, Promise<void>>();
  /** The client's queue name, built once: a string built per call is hashed again by every lookup. */
  readonly #queueNames = new WeakMap<ClientRef, { readonly id: string; readonly name: string }>();
  #broker: BrokerRef | undefined;
  #destroyed: Promise<void> | undefined;

  /** The store must be open; the subscription index is built from it now. */
  constructor(store: LevelStore, options: AedesPersistenceOptions = {}) {
    this.#store = store;
    this.#ownsStore = options.ownsStore ?? false;
    this.#chooseShared = options.chooseShared;
    for (const [clientId, subs] of store.sessions.subscriptions()) {
      for (const [topic, record] of subs) this.#indexSub(clientId, topic, record as unknown as SubscriptionLike);
    }
  }

  /** The broker given to `setup` (aedes' abstract tests read it). */
  get broker(): BrokerRef | undefined {
    return this.#broker;
  }

  /** Stats of the underlying store; `droppedOverflow` counts offline packets dropped by the queue cap. */
  get stats(): LevelStore['stats'] {
    return this.#store.stats;
  }

  async setup(broker: BrokerRef): Promise<void> {
    this.#broker = broker;
  }

  #check(): void {
    if (this.#destroyed) throw new RoostError('STORE_CLOSED', 'the aedes persistence is destroyed');
  }

  #indexSub(clientId: string, topic: string, sub: SubscriptionLike): void {
    const shared = parseShared(topic);
    if (shared !== undefined) {
      const key = sharedKey(shared.group, clientId);
      if (sub.qos > 0) {
        const member: SharedMember = { clientId, topic, qos: sub.qos, group: shared.group, filter: shared.filter };
        this.#shared.set(member, shared.filter, key);
      } else {
        this.#shared.delete(key, shared.filter);
      }
    } else if (sub.qos > 0) {
      this.#index.set({ clientId, topic, qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl });
    } else {
      this.#index.delete(clientId, topic);
    }
  }

  #unindexSub(clientId: string, topic: string): void {
    const shared = parseShared(topic);
    if (shared !== undefined) this.#shared.delete(sharedKey(shared.group, clientId), shared.filter);
    else this.#index.delete(clientId, topic);
  }

  // --- retained

  /** Stores or (empty payload) deletes the retained message of `packet.topic`. */
  async storeRetained(packet: PacketLike): Promise<void> {
    this.#check();
    await this.#store.retained.put(plain(packet) as PacketLike & { topic: string; payload: Buffer });
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  /** Retained messages matching any of `patterns`, each once. */
  createRetainedStreamCombi(patterns: readonly string[]): Readable {
    let done = false;
    return pagedReadable(async () => {
      if (done) return undefined;
      done = true;
      return this.#store.retained.match(patterns);
    });
  }

  // --- subscriptions

  async addSubscriptions(client: ClientRef, subs: readonly SubscriptionLike[]): Promise<void> {
    this.#check();
    const records: Array<[string, Record<string, unknown>]> = [];
    for (const sub of subs) {
      const record: Record<string, unknown> = { qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
      // MQTT 5 Subscription Identifier: only stored when present, so pre-v5 records keep their shape.
      if (sub.subscriptionIdentifier !== undefined) record['subscriptionIdentifier'] = sub.subscriptionIdentifier;
      this.#indexSub(client.id, sub.topic, sub);
      records.push([sub.topic, record]);
    }
    await this.#store.sessions.putSubscriptions(client.id, records);
  }

  async removeSubscriptions(client: ClientRef, topics: readonly string[]): Promise<void> {
    this.#check();
    for (const topic of topics) this.#unindexSub(client.id, topic);
    await this.#store.sessions.deleteSubscriptions(client.id, topics);
  }

  async subscriptionsByClient(client: ClientRef): Promise<Array<Record<string, unknown>>> {
    this.#check();
    const mine = this.#store.sessions.subscriptionsOf(client.id);
    const out: Array<Record<string, unknown>> = [];
    if (mine) for (const [topic, record] of mine) out.push({ topic, ...record });
    return out;
  }

  /** `subsCount`: QoS > 0, non-shared subscriptions (those offline packets are queued for); `clientsCount`: clients with any. */
  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    this.#check();
    return { subsCount: this.#index.size, clientsCount: this.#store.sessions.subscriptions().size };
  }

  /** QoS > 0 subscriptions matching topic name `topic`; of each matching `$share` group, the member `chooseShared` names. */
  async subscriptionsByTopic(topic: string): Promise<IndexedSubscription[]> {
    this.#check();
    const subs = this.#index.match(topic);
    const choose = this.#chooseShared;
    if (choose === undefined || this.#shared.size === 0) return subs;
    const groups = new Map<string, SharedMember[]>();
    for (const member of this.#shared.match(topic) as SharedMember[]) {
      const key = sharedKey(member.group, member.filter);
      const members = groups.get(key);
      if (members === undefined) groups.set(key, [member]);
      else members.push(member);
    }
    for (const members of groups.values()) {
      const { group, filter } = members[0] as SharedMember;
      const chosen = choose(group, filter, members);
      if (chosen !== undefined) subs.push(chosen);
    }
    return subs;
  }

  /**
   * Ends `client`'s session: its subscriptions and everything queued for it.
   * aedes calls this for a clean start [MQTT-3.1.2-4] and when a session
   * expires; its own clearing by packet id would leave the packets never
   * sent, for a later session with the same client id to receive.
   */
  async cleanSubscriptions(client: ClientRef): Promise<void> {
    this.#check();
    const mine = this.#store.sessions.subscriptionsOf(client.id);
    if (mine) {
      for (const topic of mine.keys()) this.#unindexSub(client.id, topic);
      await this.#store.sessions.deleteSubscriptions(client.id);
    }
    // Once per connection (clean ones too): not kept in #queueNames.
    await this.#store.queues.clear(mqttQueueName(client.id));
  }

  #queueName(client: ClientRef): string {
    const known = this.#queueNames.get(client);
    if (known !== undefined && known.id === client.id) return known.name;
    const name = mqttQueueName(client.id);
    this.#queueNames.set(client, { id: client.id, name });
    return name;
  }

  /** Client ids holding a subscription to exactly `topic`. */
  getClientList(topic: string): Readable {
    const ids: string[] = [];
    for (const [clientId, subs] of this.#store.sessions.subscriptions()) if (subs.has(topic)) ids.push(clientId);
    return Readable.from(ids);
  }

  // --- outgoing

  async outgoingEnqueue(sub: { readonly clientId: string }, packet: PacketLike): Promise<void> {
    await this.outgoingEnqueueCombi([sub], packet);
  }

  /**
   * Queues `packet` for every client in `subs`: the packet is written once,
   * each client's queue references it. A full queue drops its oldest entry.
   */
  async outgoingEnqueueCombi(subs: ReadonlyArray<{ readonly clientId: string }>, packet: PacketLike): Promise<void> {
    this.#check();
    if (!subs || subs.length === 0) return;
    const names = new Array<string>(subs.length);
    for (let i = 0; i < subs.length; i++) names[i] = mqttQueueName((subs[i] as { clientId: string }).clientId);
    const stored = queuedPacket(packet);
    await this.#store.queues.enqueue(names, stored, { key: brokerKey(stored) });
  }

  /**
   * Records `packet` as in flight to `client`. The entry with the same
   * brokerId + brokerCounter gets its messageId; otherwise an entry from
   * another broker (or a PUBREL) with the same messageId is replaced by
   * `packet` (PUBLISH → PUBREL). When neither exists the packet was delivered
   * live, never queued: it is appended, so it survives a restart until acked.
   * A QoS 1 messageId is kept in memory only (see the file comment). Each
   * client's updates resolve in the order they were made, so packets sent
   * as they resolve leave in queue order.
   */
  async outgoingUpdate(client: ClientRef, packet: PacketLike): Promise<void> {
    this.#check();
    const prior = this.#updating.get(client);
    const work = this.#update(client, packet);
    if (work === undefined && prior === undefined) return;
    // A memory-only update waits for an earlier one still being written; its outcome is not this one's.
    const settled = prior === undefined ? (work as Promise<void>) : prior.then(() => work, () => work);
    this.#updating.set(client, settled);
    try {
      await settled;
    } finally {
      if (this.#updating.get(client) === settled) this.#updating.delete(client);
    }
  }

  /** Does the update now; returns the write to wait for, or undefined when it was memory only. */
  #update(client: ClientRef, packet: PacketLike): Promise<void> | undefined {
    const queues = this.#store.queues;
    const name = this.#queueName(client);
    const messageId = packet.messageId;
    // The drain's case: the packet this client's stream just handed out, found by number.
    const streamed = this.#streamed.get(client);
    const mine = streamed?.get(packet.brokerCounter as number);
    if (mine !== undefined && mine.brokerId === packet.brokerId) {
      (streamed as Map<number, Streamed>).delete(packet.brokerCounter as number);
      // aedes' rule below gives the same entry unless an older one already holds the id.
      const holder = messageId === undefined ? undefined : queues.firstWithTag(name, messageId);
      if ((holder === undefined || holder.id === mine.entryId) && queues.has(name, mine.entryId)) return this.#tag(client, name, mine.entryId, packet);
    }
    const key = brokerKey(packet);
    // aedes' rule, first entry in queue order wins: same broker → same counter;
    // other broker (or a PUBREL) → same messageId. Both are index lookups.
    const sameMessage = queues.withKey(name, key)[0];
    let sameId: QueueEntryInfo | undefined;
    if (messageId !== undefined && queues.hasTag(name, messageId)) {
      const broker = brokerPart(key);
      for (const e of queues.withTag(name, messageId)) {
        if (e.key === undefined || brokerPart(e.key) !== broker) {
          sameId = e;
          break;
        }
      }
    }
    const byMessageId = sameId !== undefined && (sameMessage === undefined || sameId.id < sameMessage.id);
    const hit = byMessageId ? sameId : sameMessage;
    if (hit && !byMessageId) return this.#tag(client, name, hit.id, packet);
    const tag = messageId !== undefined ? { tag: messageId } : {};
    if (hit) {
      const stored = plain(packet);
      this.#sent(client, messageId, hit.id, stored);
      return queues.replace(name, hit.id, stored, { key, ...tag }).then(() => undefined);
    }
    const stored = packet.cmd === 'publish' || packet.cmd === undefined ? queuedPacket(packet) : plain(packet);
    return queues.enqueue([name], stored, { key, ...tag }).then(() => undefined);
  }

  /** Gives entry `id` (present) the messageId of `packet`: in memory for QoS 1, else written. */
  #tag(client: ClientRef, name: string, id: number, packet: PacketLike): Promise<void> | undefined {
    const queues = this.#store.queues;
    const messageId = packet.messageId;
    this.#sent(client, messageId, id, packet);
    if (packet.qos === 1 && packet.cmd === 'publish') {
      queues.setVolatileTag(name, id, messageId);
      return undefined;
    }
    return queues.setTag(name, id, messageId).then(() => undefined);
  }

  #sent(client: ClientRef, messageId: number | undefined, entryId: number, packet: PacketLike): void {
    if (messageId === undefined) return;
    let mine = this.#inFlight.get(client);
    if (mine === undefined) {
      mine = new Map();
      this.#inFlight.set(client, mine);
    }
    mine.set(messageId, { entryId, packet });
  }

  /**
   * True when a packet of `client`'s session holds `messageId`: queued ones
   * keep their id across reconnects and restarts, so a new delivery must pick
   * another [MQTT-2.2.1-3]. Memory only.
   */
  outgoingIdInUse(client: ClientRef, messageId: number): boolean {
    return this.#store.queues.hasTag(this.#queueName(client), messageId);
  }

  /**
   * Removes the entry whose messageId is `packet.messageId`; resolves with it,
   * or undefined when there was none. For a packet this connection sent it
   * resolves at once, before the removal is on disk (a removal lost in a
   * crash means the packet is sent again); otherwise it reads the entry back.
   */
  async outgoingClearMessageId(client: ClientRef, packet: PacketLike): Promise<PacketLike | undefined> {
    this.#check();
    const messageId = packet?.messageId;
    if (typeof messageId !== 'number') return undefined;
    const queues = this.#store.queues;
    const name = this.#queueName(client);
    const mine = this.#inFlight.get(client);
    const sent = mine?.get(messageId);
    if (sent !== undefined) (mine as Map<number, InFlight>).delete(messageId);
    const hit = queues.firstWithTag(name, messageId);
    if (!hit) return undefined;
    // What was sent under this id is still the entry holding it: no need to read it back.
    if (sent !== undefined && sent.entryId === hit.id && queues.discard(name, hit.id)) return sent.packet;
    const entry = await queues.take(name, hit.id);
    return entry && toPacket(entry);
  }

  /** `client`'s queued and in-flight packets present now, oldest first; expired ones are skipped and removed. */
  outgoingStream(client: ClientRef): Readable {
    let cursor: QueueCursor;
    try {
      this.#check();
      // Not kept in #queueNames: every connection, clean ones too, streams its queue once.
      cursor = this.#store.queues.cursor(mqttQueueName(client.id));
    } catch (err) {
      // A stream is expected, so the error travels on it.
      return pagedReadable(() => Promise.reject(err));
    }
    // Made with the first packet: most connections have none queued.
    this.#streamed.delete(client);
    let streamed: Map<number, Streamed> | undefined;
    return pagedReadable(async () => {
      const page = await cursor.next();
      if (page === undefined) return undefined;
      const packets = new Array<PacketLike>(page.length);
      for (let i = 0; i < page.length; i++) {
        const entry = page[i] as QueueEntry;
        const packet = toPacket(entry);
        if (typeof packet.brokerCounter === 'number') {
          if (streamed === undefined) this.#streamed.set(client, (streamed = new Map()));
          streamed.set(packet.brokerCounter, { brokerId: packet.brokerId, entryId: entry.id });
        }
        packets[i] = packet;
      }
      return packets;
    });
  }

  // --- incoming QoS 2

  async incomingStorePacket(client: ClientRef, packet: PacketLike): Promise<void> {
    this.#check();
    const stored = queuedPacket(packet);
    stored.messageId = packet.messageId;
    await this.#store.sessions.putIncoming(client.id, packet.messageId as number, stored);
  }

  /** @throws RoostError STORE_NOT_FOUND */
  async incomingGetPacket(client: ClientRef, packet: PacketLike): Promise<PacketLike> {
    this.#check();
    const found = await this.#store.sessions.getIncoming(client.id, packet.messageId as number);
    if (!found) throw notFound('incoming packet');
    return found as PacketLike;
  }

  /** @throws RoostError STORE_NOT_FOUND */
  async incomingDelPacket(client: ClientRef, packet: PacketLike): Promise<void> {
    this.#check();
    if (!(await this.#store.sessions.deleteIncoming(client.id, packet.messageId as number))) throw notFound('incoming packet');
  }

  /** Drops every stored incoming packet of `client` [MQTT-3.1.2-6]. */
  async cleanIncoming(client: ClientRef): Promise<void> {
    this.#check();
    await this.#store.sessions.clearIncoming(client.id);
  }

  // --- wills

  /** Stores `packet` as `client`'s will, stamping it with this broker's id and the client id (as aedes expects). */
  async putWill(client: ClientRef, packet: PacketLike): Promise<void> {
    this.#check();
    packet.brokerId = this.#broker?.id as string;
    packet.clientId = client.id;
    await this.#store.sessions.putWill(client.id, plain(packet));
  }

  async getWill(client: ClientRef): Promise<PacketLike | undefined> {
    this.#check();
    return (await this.#store.sessions.getWill(client.id)) as PacketLike | undefined;
  }

  async delWill(client: ClientRef): Promise<PacketLike | undefined> {
    this.#check();
    return (await this.#store.sessions.deleteWill(client.id)) as PacketLike | undefined;
  }

  /** Wills stored by brokers not in `brokers` (aedes: brokerId → last heartbeat). */
  streamWill(brokers: Readonly<Record<string, unknown>> = {}): Readable {
    let done = false;
    return pagedReadable(async () => {
      if (done) return undefined;
      done = true;
      return this.#store.sessions.wills((brokerId) => Boolean(brokerId !== undefined && brokers[brokerId]));
    });
  }

  /** Idempotent. Closes the store only when constructed with `ownsStore: true`. */
  destroy(): Promise<void> {
    return (this.#destroyed ??= this.#ownsStore ? this.#store.close() : Promise.resolve());
  }
}
