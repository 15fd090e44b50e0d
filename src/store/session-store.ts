/**
 * Per-client session records other than queues: persisted subscriptions
 * (`s!<client>\0<filter>`), will messages (`w!<client>`) and incoming QoS 2
 * packets awaiting PUBREL (`i!<client>\0<messageId>`). Subscriptions are held
 * in memory whole (they are small and read on every reconnect); wills and
 * incoming packets keep only their keys in memory and bodies on disk.
 */
import { decodeRecord, encodeRecord } from './codec.js';
import type { Disk } from './disk.js';
import type { BatchOp } from './group-commit.js';
import {
  INCOMING_PREFIX,
  SUBSCRIPTION_PREFIX,
  WILL_PREFIX,
  clientItemKey,
  parseClientItemKey,
  unescapeName,
  willKey,
} from './keys.js';

export type SubscriptionRecord = Readonly<Record<string, unknown>>;

export class SessionStore {
  readonly #disk: Disk;
  readonly #subs = new Map<string, Map<string, SubscriptionRecord>>();
  /** clientId → brokerId of the broker that stored the will. */
  readonly #wills = new Map<string, string | undefined>();
  readonly #incoming = new Map<string, Set<number>>();

  /** @internal built by LevelStore.open */
  constructor(disk: Disk) {
    this.#disk = disk;
  }

  /** @internal */
  async load(): Promise<void> {
    for await (const [key, value] of this.#disk.entries(SUBSCRIPTION_PREFIX)) {
      const { clientId, item } = parseClientItemKey(SUBSCRIPTION_PREFIX, key);
      this.#clientSubs(clientId).set(item, decodeRecord(value) as SubscriptionRecord);
    }
    for await (const [key, value] of this.#disk.entries(WILL_PREFIX)) {
      const will = decodeRecord(value) as Record<string, unknown>;
      const brokerId = will['brokerId'];
      this.#wills.set(unescapeName(key.slice(WILL_PREFIX.length)), typeof brokerId === 'string' ? brokerId : undefined);
    }
    for await (const key of this.#disk.keys(INCOMING_PREFIX)) {
      const { clientId, item } = parseClientItemKey(INCOMING_PREFIX, key);
      this.#clientIncoming(clientId).add(parseInt(item, 16));
    }
  }

  #clientSubs(clientId: string): Map<string, SubscriptionRecord> {
    let m = this.#subs.get(clientId);
    if (!m) {
      m = new Map();
      this.#subs.set(clientId, m);
    }
    return m;
  }

  #clientIncoming(clientId: string): Set<number> {
    let s = this.#incoming.get(clientId);
    if (!s) {
      s = new Set();
      this.#incoming.set(clientId, s);
    }
    return s;
  }

  // --- subscriptions

  /** Every client with at least one subscription, with its filters → records. Live view: do not mutate. */
  subscriptions(): ReadonlyMap<string, ReadonlyMap<string, SubscriptionRecord>> {
    return this.#subs;
  }

  /** `clientId`'s filters → records, in the order they were first added (key order after a restart). */
  subscriptionsOf(clientId: string): ReadonlyMap<string, SubscriptionRecord> | undefined {
    return this.#subs.get(clientId);
  }

  /** Adds or replaces subscriptions of `clientId`, later pairs winning; resolves once written. */
  async putSubscriptions(clientId: string, subs: ReadonlyArray<readonly [filter: string, record: SubscriptionRecord]>): Promise<void> {
    this.#disk.assertOpen();
    if (subs.length === 0) return;
    const mine = this.#clientSubs(clientId);
    const ops: BatchOp[] = [];
    for (const [filter, record] of subs) {
      mine.set(filter, record);
      ops.push({ type: 'put', key: clientItemKey(SUBSCRIPTION_PREFIX, clientId, filter), value: encodeRecord(record) });
    }
    await this.#disk.write(ops);
  }

  /** Removes `filters` of `clientId` (all of them when omitted); resolves once written. */
  async deleteSubscriptions(clientId: string, filters?: readonly string[]): Promise<void> {
    this.#disk.assertOpen();
    const mine = this.#subs.get(clientId);
    if (!mine) return;
    const ops: BatchOp[] = [];
    for (const filter of filters ?? [...mine.keys()]) {
      if (!mine.delete(filter)) continue;
      ops.push({ type: 'del', key: clientItemKey(SUBSCRIPTION_PREFIX, clientId, filter) });
    }
    if (mine.size === 0) this.#subs.delete(clientId);
    if (ops.length > 0) await this.#disk.write(ops);
  }

  // --- wills

  /** Stores `will` as `clientId`'s will, replacing any; its `brokerId` field names the owning broker. */
  async putWill(clientId: string, will: Record<string, unknown>): Promise<void> {
    this.#disk.assertOpen();
    const brokerId = will['brokerId'];
    this.#wills.set(clientId, typeof brokerId === 'string' ? brokerId : undefined);
    await this.#disk.write([{ type: 'put', key: willKey(clientId), value: encodeRecord(will) }]);
  }

  async getWill(clientId: string): Promise<Record<string, unknown> | undefined> {
    if (!this.#wills.has(clientId)) return undefined;
    const body = await this.#disk.get(willKey(clientId));
    return body === undefined ? undefined : (decodeRecord(body) as Record<string, unknown>);
  }

  /** Deletes `clientId`'s will; resolves with it (undefined when there was none) once written. */
  async deleteWill(clientId: string): Promise<Record<string, unknown> | undefined> {
    this.#disk.assertOpen();
    if (!this.#wills.has(clientId)) return undefined;
    const will = await this.getWill(clientId);
    // Another delete may have won while we read.
    if (!this.#wills.delete(clientId)) return undefined;
    await this.#disk.write([{ type: 'del', key: willKey(clientId) }]);
    return will;
  }

  /** Wills whose owning broker `keep` rejects, read from disk. */
  async wills(keep: (brokerId: string | undefined) => boolean = () => false): Promise<Array<Record<string, unknown>>> {
    const ids: string[] = [];
    for (const [clientId, brokerId] of this.#wills) if (!keep(brokerId)) ids.push(clientId);
    const bodies = await this.#disk.getMany(ids.map(willKey));
    const out: Array<Record<string, unknown>> = [];
    for (const body of bodies) if (body !== undefined) out.push(decodeRecord(body) as Record<string, unknown>);
    return out;
  }

  // --- incoming QoS 2

  #incomingKey(clientId: string, messageId: number): string {
    return clientItemKey(INCOMING_PREFIX, clientId, messageId.toString(16).padStart(4, '0'));
  }

  async putIncoming(clientId: string, messageId: number, packet: Record<string, unknown>): Promise<void> {
    this.#disk.assertOpen();
    this.#clientIncoming(clientId).add(messageId);
    await this.#disk.write([{ type: 'put', key: this.#incomingKey(clientId, messageId), value: encodeRecord(packet) }]);
  }

  async getIncoming(clientId: string, messageId: number): Promise<Record<string, unknown> | undefined> {
    if (!this.#incoming.get(clientId)?.has(messageId)) return undefined;
    const body = await this.#disk.get(this.#incomingKey(clientId, messageId));
    return body === undefined ? undefined : (decodeRecord(body) as Record<string, unknown>);
  }

  /** False when there was no such packet. */
  async deleteIncoming(clientId: string, messageId: number): Promise<boolean> {
    this.#disk.assertOpen();
    const mine = this.#incoming.get(clientId);
    if (!mine?.delete(messageId)) return false;
    if (mine.size === 0) this.#incoming.delete(clientId);
    await this.#disk.write([{ type: 'del', key: this.#incomingKey(clientId, messageId) }]);
    return true;
  }

  async clearIncoming(clientId: string): Promise<void> {
    this.#disk.assertOpen();
    const mine = this.#incoming.get(clientId);
    if (!mine) return;
    this.#incoming.delete(clientId);
    await this.#disk.write([...mine].map((id): BatchOp => ({ type: 'del', key: this.#incomingKey(clientId, id) })));
  }
}
