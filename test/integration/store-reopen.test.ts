import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AedesLevelPersistence, type PacketLike } from '../../src/store/aedes-persistence.js';
import { LevelStore } from '../../src/store/level-store.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'roost-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const broker = { id: 'broker-1' };
const EXPIRY = Date.now() + 3_600_000;

async function open(dataDir: string, maxQueuedMessages = 100): Promise<AedesLevelPersistence> {
  const store = await LevelStore.open({ dataDir, durability: 'os', maxQueuedMessages });
  const persistence = new AedesLevelPersistence(store, { ownsStore: true });
  await persistence.setup(broker);
  return persistence;
}

async function all<T>(stream: Readable): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item as T);
  return out;
}

function v5Packet(n: number): PacketLike {
  return {
    cmd: 'publish',
    topic: `plant/line-${n}/alarm`,
    payload: Buffer.from([n, 0, 0xff, 0x10]),
    qos: 1,
    retain: false,
    dup: false,
    brokerId: broker.id,
    brokerCounter: 1000 + n,
    messageExpiry: EXPIRY,
    properties: {
      contentType: 'application/octet-stream',
      correlationData: Buffer.from([0xde, 0xad, n]),
      userProperties: { site: 'north', tag: ['a', 'b'] },
      responseTopic: 'plant/replies',
      payloadFormatIndicator: false,
    },
  };
}

describe('the store keeps everything across a restart', () => {
  it('retained messages, subscriptions, queued packets, in-flight ids, wills and incoming QoS 2 packets', async () => {
    const dir = join(root, 'data');
    const client = { id: 'sensor-7' };
    const retained = { ...v5Packet(1), topic: 'plant/status', retain: true, qos: 0 };
    {
      const p = await open(dir);
      await p.storeRetained(retained);
      await p.storeRetained({ ...retained, topic: 'plant/gone' });
      await p.storeRetained({ topic: 'plant/gone', payload: Buffer.alloc(0) });
      await p.addSubscriptions(client, [
        { topic: 'plant/+/alarm', qos: 1, rh: 0, rap: true, nl: false, subscriptionIdentifier: 9 },
        { topic: '$share/g/plant/#', qos: 1, rh: 0, rap: false, nl: false },
        { topic: 'plant/qos0', qos: 0, rh: 0, rap: false, nl: false },
      ]);
      await p.outgoingEnqueueCombi([{ clientId: client.id }, { clientId: 'other' }], v5Packet(2));
      await p.outgoingEnqueue({ clientId: client.id }, v5Packet(3));
      await p.outgoingUpdate(client, { ...v5Packet(2), messageId: 17 });
      await p.putWill(client, { topic: 'plant/will', payload: Buffer.from('bye'), qos: 1, retain: false });
      await p.incomingStorePacket(client, { ...v5Packet(4), qos: 2, messageId: 300 });
      await p.destroy();
    }
    const p = await open(dir);
    try {
      const back = await all<PacketLike>(p.createRetainedStreamCombi(['plant/#']));
      expect(back).toStrictEqual([retained]);

      expect(await p.subscriptionsByClient(client)).toEqual(
        expect.arrayContaining([
          { topic: 'plant/+/alarm', qos: 1, rh: 0, rap: true, nl: false, subscriptionIdentifier: 9 },
          { topic: '$share/g/plant/#', qos: 1, rh: 0, rap: false, nl: false },
          { topic: 'plant/qos0', qos: 0, rh: 0, rap: false, nl: false },
        ]),
      );
      // $share is stored but not matched offline; QoS 0 is not matched either.
      expect(await p.subscriptionsByTopic('plant/line-1/alarm')).toEqual([{ clientId: client.id, topic: 'plant/+/alarm', qos: 1, rh: 0, rap: true, nl: false }]);
      expect(await p.countOffline()).toEqual({ subsCount: 1, clientsCount: 1 });

      const queued = await all<PacketLike>(p.outgoingStream(client));
      expect(queued).toHaveLength(2);
      const { messageId: _m2, ...expected2 } = { ...v5Packet(2), messageId: 17 };
      expect(queued[0]).toStrictEqual({ ...expected2, messageId: 17 });
      expect(queued[1]).toStrictEqual({ ...v5Packet(3), messageId: undefined });
      expect(Buffer.isBuffer(queued[0]?.properties?.['correlationData'])).toBe(true);
      expect(await all(p.outgoingStream({ id: 'other' }))).toHaveLength(1);

      expect(await p.getWill(client)).toStrictEqual({ topic: 'plant/will', payload: Buffer.from('bye'), qos: 1, retain: false, brokerId: broker.id, clientId: client.id });
      expect(await all(p.streamWill({ [broker.id]: Date.now() }))).toEqual([]);
      expect(await all(p.streamWill({}))).toHaveLength(1);

      const incoming = await p.incomingGetPacket(client, { messageId: 300 });
      expect(incoming.messageId).toBe(300);
      expect(incoming.properties).toStrictEqual(v5Packet(4).properties);
    } finally {
      await p.destroy();
    }
  });

  it('writes a fanned-out packet once, and deletes it when the last queue acks it', async () => {
    const dir = join(root, 'data');
    const clients = ['c1', 'c2', 'c3'];
    {
      const p = await open(dir);
      await p.outgoingEnqueueCombi(clients.map((clientId) => ({ clientId })), v5Packet(5));
      await p.outgoingUpdate({ id: 'c1' }, { ...v5Packet(5), messageId: 1 });
      expect(await p.outgoingClearMessageId({ id: 'c1' }, { messageId: 1 })).toMatchObject({ topic: 'plant/line-5/alarm', messageId: 1 });
      await p.destroy();
    }
    {
      const raw = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
      expect(await raw.keys({ gte: 'm!', lt: 'm"' }).all()).toHaveLength(1);
      expect(await raw.keys({ gte: 'q!', lt: 'q"' }).all()).toHaveLength(2);
      await raw.close();
    }
    {
      const p = await open(dir);
      for (const id of ['c2', 'c3']) {
        const [packet] = await all<PacketLike>(p.outgoingStream({ id }));
        expect(packet?.payload).toStrictEqual(v5Packet(5).payload);
        await p.outgoingUpdate({ id }, { ...(packet as PacketLike), messageId: 2 });
        await p.outgoingClearMessageId({ id }, { messageId: 2 });
      }
      await p.destroy();
    }
    const raw = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
    expect(await raw.keys({ gte: 'm!', lt: 'q"' }).all()).toEqual([]);
    await raw.close();
  });

  it('deletes message records no entry references, and entries whose message is missing, when it opens', async () => {
    const dir = join(root, 'data');
    await (await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 10 })).close();
    const raw = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
    await raw.put('m!00000000000063', Buffer.from([1, 0]));
    // an entry (flags 0, ref 0x50) whose message record does not exist
    await raw.put('q!dangling\u000000000000000051', Buffer.from([0, 0x50, 0, 0, 0, 0, 0]));
    await raw.close();
    const store = await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 10 });
    expect(store.queues.length('dangling')).toBe(0);
    expect(store.queues.names()).toEqual([]);
    // the next seq is past the orphan's, so ids never repeat
    const [id] = await store.queues.enqueue(['q'], { topic: 't', payload: Buffer.from('x') });
    expect(id).toBeGreaterThan(0x63);
    await store.close();
    const raw2 = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
    // the orphan is gone; the new message, for one queue, is inside its entry
    expect(await raw2.keys({ gte: 'm!', lt: 'm"' }).all()).toEqual([]);
    expect(await raw2.keys({ gte: 'q!q\u0000', lt: 'q!q\u0001' }).all()).toHaveLength(1);
    expect(await raw2.keys({ gte: 'q!dangling', lt: 'q!danglinh' }).all()).toEqual([]);
    await raw2.close();
  });
});
