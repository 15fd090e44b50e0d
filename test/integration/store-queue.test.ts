import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasCode } from '../../src/core/errors.js';
import { AedesLevelPersistence, type PacketLike } from '../../src/store/aedes-persistence.js';
import { LevelStore } from '../../src/store/level-store.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'roost-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function all<T>(stream: Readable): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item as T);
  return out;
}

const msg = (n: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ topic: 'q/t', payload: Buffer.from(`m${n}`), qos: 1, ...extra });
const texts = (entries: ReadonlyArray<{ message: Record<string, unknown> }>): string[] => entries.map((e) => String(e.message['payload']));

describe('durable queue', () => {
  it('keeps order, reads from a cursor, and removes by id', async () => {
    await using store = await LevelStore.open({ dataDir: join(root, 'd'), durability: 'os', maxQueuedMessages: 100 });
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(...(await store.queues.enqueue(['jobs'], msg(i))));
    expect(texts(await store.queues.read('jobs', { limit: 3 }))).toEqual(['m0', 'm1', 'm2']);
    expect(texts(await store.queues.read('jobs', { afterId: ids[7] as number }))).toEqual(['m8', 'm9']);
    expect(await store.queues.remove('jobs', ids[0] as number)).toBe(true);
    expect(await store.queues.remove('jobs', ids[0] as number)).toBe(false);
    const cursor = store.queues.cursor('jobs', 4);
    await store.queues.enqueue(['jobs'], msg(10)); // after the cursor: not included
    const seen: string[] = [];
    for (let page = await cursor.next(); page; page = await cursor.next()) seen.push(...texts(page));
    expect(seen).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
    expect(store.queues.length('jobs')).toBe(10);
    await store.queues.clear('jobs');
    expect(store.queues.length('jobs')).toBe(0);
  });

  it('caps each queue: drops the oldest, counts it, and keeps the cap across a restart', async () => {
    const dir = join(root, 'd');
    {
      await using store = await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 3 });
      for (let i = 0; i < 5; i++) await store.queues.enqueue(['a', 'b'], msg(i));
      expect(texts(await store.queues.read('a'))).toEqual(['m2', 'm3', 'm4']);
      expect(store.stats.droppedOverflow).toBe(4);
    }
    await using store = await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 3 });
    await store.queues.enqueue(['a'], msg(5));
    expect(texts(await store.queues.read('a'))).toEqual(['m3', 'm4', 'm5']);
    expect(texts(await store.queues.read('b'))).toEqual(['m2', 'm3', 'm4']);
    expect(store.stats.droppedOverflow).toBe(1);
  });

  it('caps an MQTT session queue at maxQueuedMessages, counted in stats.droppedOverflow', async () => {
    const store = await LevelStore.open({ dataDir: join(root, 'd'), durability: 'os', maxQueuedMessages: 2 });
    const p = new AedesLevelPersistence(store, { ownsStore: true });
    await p.setup({ id: 'b' });
    for (let i = 1; i <= 5; i++) {
      await p.outgoingEnqueueCombi([{ clientId: 'slow' }], { cmd: 'publish', topic: 't', payload: Buffer.from(`m${i}`), qos: 1, brokerId: 'b', brokerCounter: i });
    }
    const left = await all<PacketLike>(p.outgoingStream({ id: 'slow' }));
    expect(left.map((x) => String(x.payload))).toEqual(['m4', 'm5']);
    expect(p.stats.droppedOverflow).toBe(3);
    await p.destroy();
  });

  it('skips and removes expired entries on read (absolute messageExpiry, injected clock)', async () => {
    let now = 1_000_000;
    await using store = await LevelStore.open({ dataDir: join(root, 'd'), durability: 'os', maxQueuedMessages: 100, now: () => now });
    await store.queues.enqueue(['q'], msg(0, { messageExpiry: now + 1000 }));
    await store.queues.enqueue(['q'], msg(1));
    await store.queues.enqueue(['q'], msg(2, { messageExpiry: now + 5000 }));
    expect(texts(await store.queues.read('q'))).toEqual(['m0', 'm1', 'm2']);
    now += 1000;
    expect(texts(await store.queues.read('q'))).toEqual(['m1', 'm2']);
    expect(store.stats.expired).toBe(1);
    expect(store.queues.length('q')).toBe(2);
    now += 10_000;
    const drained: string[] = [];
    for await (const e of store.queues.stream('q')) drained.push(String(e.message['payload']));
    expect(drained).toEqual(['m1']);
    expect(store.stats.expired).toBe(2);
  });

  it('replaces an entry in place and keeps delivery tags across a restart', async () => {
    const dir = join(root, 'd');
    {
      await using store = await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 100 });
      const [a] = await store.queues.enqueue(['q'], msg(0), { key: 'k0' });
      await store.queues.enqueue(['q'], msg(1), { key: 'k1', tag: 7 });
      expect(await store.queues.setTag('q', a as number, 42)).toBe(true);
      expect(await store.queues.replace('q', a as number, { cmd: 'pubrel', messageId: 42 }, { tag: 42 })).toBe(true);
    }
    await using store = await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 100 });
    const entries = await store.queues.read('q');
    expect(entries.map((e) => [e.message, e.key, e.tag])).toEqual([
      [{ cmd: 'pubrel', messageId: 42 }, undefined, 42],
      [msg(1), 'k1', 7],
    ]);
    expect(store.queues.find('q', (e) => e.tag === 7)?.key).toBe('k1');
  });

  it('keeps a small message for one queue inside its entry, others in a shared record, and in-memory tags across a clean close', async () => {
    const dir = join(root, 'd');
    const big = { topic: 'q/t', payload: Buffer.alloc(5_000, 7), qos: 1 };
    const expiry = Date.now() + 3_600_000;
    {
      await using store = await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 100 });
      const [small] = await store.queues.enqueue(['a'], msg(0, { messageExpiry: expiry }), { key: 'k0' });
      const [large] = await store.queues.enqueue(['a'], big, { key: 'k1' });
      await store.queues.enqueue(['a', 'b'], msg(2));
      expect(store.queues.setVolatileTag('a', small as number, 11)).toBe(true);
      expect(store.queues.setVolatileTag('a', large as number, 12)).toBe(true);
      expect(store.queues.hasTag('a', 11)).toBe(true);
    }
    const raw = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
    // the large message and the fanned-out one; the small one lives in its entry
    expect(await raw.keys({ gte: 'm!', lt: 'm"' }).all()).toHaveLength(2);
    await raw.close();
    await using store = await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 100 });
    const entries = await store.queues.read('a');
    expect(entries.map((e) => [e.key, e.tag, e.expiresAt, e.uncertain])).toEqual([
      ['k0', 11, expiry, false],
      ['k1', 12, 0, false],
      [undefined, undefined, 0, false],
    ]);
    expect(entries[0]?.message).toEqual(msg(0, { messageExpiry: expiry }));
    expect(entries[1]?.message).toEqual(big);
    expect(texts(await store.queues.read('b'))).toEqual(['m2']);
  });

  it('upserts a live in-flight packet that was never queued, and acks it by messageId', async () => {
    const store = await LevelStore.open({ dataDir: join(root, 'd'), durability: 'os', maxQueuedMessages: 10 });
    const p = new AedesLevelPersistence(store, { ownsStore: true });
    await p.setup({ id: 'b' });
    const client = { id: 'online' };
    const live = { cmd: 'publish', topic: 't', payload: Buffer.from('live'), qos: 1, retain: false, dup: false, brokerId: 'b', brokerCounter: 9, messageId: 5 };
    await p.outgoingUpdate(client, live);
    const [stored] = await all<PacketLike>(p.outgoingStream(client));
    expect(stored).toMatchObject({ topic: 't', messageId: 5, brokerCounter: 9 });
    // QoS 2: PUBREC turns it into a PUBREL, PUBCOMP clears it
    await p.outgoingUpdate(client, { cmd: 'pubrel', messageId: 5 });
    expect(await all(p.outgoingStream(client))).toEqual([{ cmd: 'pubrel', messageId: 5 }]);
    expect(await p.outgoingClearMessageId(client, { messageId: 5 })).toEqual({ cmd: 'pubrel', messageId: 5 });
    expect(await all(p.outgoingStream(client))).toEqual([]);
    expect(await p.outgoingClearMessageId(client, { messageId: 5 })).toBeUndefined();
    await p.destroy();
  });

  it('rejects every call after destroy with STORE_CLOSED, streams included, and leaves a shared store open', async () => {
    await using store = await LevelStore.open({ dataDir: join(root, 'd'), durability: 'os', maxQueuedMessages: 10 });
    const p = new AedesLevelPersistence(store);
    await p.setup({ id: 'b' });
    await p.destroy();
    await p.destroy(); // idempotent
    const closed = (e: unknown): boolean => hasCode(e, 'STORE_CLOSED');
    await expect(p.outgoingEnqueue({ clientId: 'c' }, { topic: 't', payload: Buffer.from('x'), qos: 1 })).rejects.toSatisfy(closed);
    await expect(p.subscriptionsByTopic('t')).rejects.toSatisfy(closed);
    await expect(all(p.outgoingStream({ id: 'c' }))).rejects.toSatisfy(closed);
    // the store itself was not closed: it belongs to whoever opened it
    await store.queues.enqueue(['other'], { topic: 't', payload: Buffer.from('y') });
    expect(store.queues.length('other')).toBe(1);
  });
});
