import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Durability } from '../../src/config/types.js';
import { LevelStore } from '../../src/store/level-store.js';

const child = fileURLToPath(new URL('../helpers/store-crash-child.mjs', import.meta.url));

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'roost-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function runAndKill(dataDir: string, durability: Durability, count: number): Promise<{ acked: number[]; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dataDir, durability, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.on('error', reject);
    proc.on('close', (_code, signal) => {
      const acked = [...out.matchAll(/^acked (\d+)$/gm)].map((m) => Number(m[1]));
      resolve({ acked, signal });
    });
  });
}

describe('group commit durability', () => {
  for (const durability of ['os', 'fsync'] as const) {
    it(`every write acknowledged before SIGKILL is there after reopen (durability ${durability})`, async () => {
      const dir = join(root, durability);
      const { acked, signal } = await runAndKill(dir, durability, 200);
      expect(signal).toBe('SIGKILL');
      expect(acked).toHaveLength(200);
      await using store = await LevelStore.open({ dataDir: dir, durability, maxQueuedMessages: 1000 });
      const entries = await store.queues.read('q');
      expect(entries.map((e) => (e.message['payload'] as Buffer).toString())).toEqual(acked.map((i) => `m${i}`).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))));
    });
  }

  it('coalesces writes requested during a batch into one batch and resolves each after it', async () => {
    await using store = await LevelStore.open({ dataDir: join(root, 'gc'), durability: 'fsync', maxQueuedMessages: 1000 });
    const before = store.stats.batches;
    const order: string[] = [];
    const first = store.queues.enqueue(['q'], { topic: 't', payload: Buffer.from('first') }).then(() => order.push('first'));
    // Let the first batch start, then pile up writes while it is being written.
    await new Promise<void>((r) => queueMicrotask(r));
    const batchesAtStart = store.stats.batches;
    const rest = Array.from({ length: 50 }, (_, i) =>
      store.queues.enqueue(['q'], { topic: 't', payload: Buffer.from(`m${i}`) }).then(() => order.push(`m${i}`)),
    );
    expect(store.stats.batches).toBe(batchesAtStart); // nothing has landed yet
    await Promise.all([first, ...rest]);
    expect(order[0]).toBe('first');
    expect(store.stats.batches - before).toBe(2);
    expect(store.stats.largestBatch).toBe(50); // each enqueue: one entry, its small record inline
    // after resolution the data is read from LevelDB, not from the pending overlay
    expect(await store.queues.read('q')).toHaveLength(51);
  });
});
