import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LevelStore } from '../../src/store/level-store.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'roost-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const topicsOf = (messages: ReadonlyArray<Record<string, unknown>>): string[] => messages.map((m) => m['topic'] as string).sort();

describe('retained messages', () => {
  it('matches wildcards through the in-memory trie, deletes on empty payload, and reloads the trie on open', async () => {
    const dir = join(root, 'd');
    {
      await using store = await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 10 });
      for (let i = 0; i < 300; i++) await store.retained.put({ topic: `site/${i % 3}/dev/${i}/temp`, payload: Buffer.from(String(i)), qos: 1 });
      await store.retained.put({ topic: '$SYS/broker/uptime', payload: Buffer.from('1') });
      await store.retained.put({ topic: 'site/1/dev/1/temp', payload: Buffer.alloc(0) });
      expect(store.retained.size).toBe(300);
    }
    await using store = await LevelStore.open({ dataDir: dir, durability: 'os', maxQueuedMessages: 10 });
    expect(store.retained.size).toBe(300);
    const site1 = await store.retained.match(['site/1/dev/+/temp']);
    expect(site1).toHaveLength(99);
    expect(site1.every((m) => (m['topic'] as string).startsWith('site/1/'))).toBe(true);
    expect(await store.retained.match(['site/0/dev/0/temp'])).toEqual([{ topic: 'site/0/dev/0/temp', payload: Buffer.from('0'), qos: 1 }]);
    expect(topicsOf(await store.retained.match(['#'])).some((t) => t.startsWith('$'))).toBe(false);
    expect(topicsOf(await store.retained.match(['$SYS/#']))).toEqual(['$SYS/broker/uptime']);
    // overlapping filters: each message once
    expect(await store.retained.match(['site/2/#', 'site/+/dev/2/temp', 'site/2/dev/2/temp'])).toHaveLength(100);
  });

  it('skips and deletes an expired retained message', async () => {
    let now = 5_000;
    await using store = await LevelStore.open({ dataDir: join(root, 'd'), durability: 'os', maxQueuedMessages: 10, now: () => now });
    await store.retained.put({ topic: 'a', payload: Buffer.from('x'), messageExpiry: 6_000 });
    expect(await store.retained.match(['a'])).toHaveLength(1);
    now = 6_000;
    expect(await store.retained.match(['a'])).toEqual([]);
    expect(store.retained.size).toBe(0);
  });
});
