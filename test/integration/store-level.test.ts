import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasCode, type ErrorCode } from '../../src/core/errors.js';
import { LevelStore, type LevelStoreOptions } from '../../src/store/level-store.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'roost-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const opts = (dataDir: string, more: Partial<LevelStoreOptions> = {}): LevelStoreOptions => ({ dataDir, durability: 'os', maxQueuedMessages: 100, ...more });

async function openError(options: LevelStoreOptions): Promise<unknown> {
  try {
    const store = await LevelStore.open(options);
    await store.close();
  } catch (err) {
    return err;
  }
  return undefined;
}

function expectCode(err: unknown, code: ErrorCode): void {
  expect(hasCode(err, code), String(err)).toBe(true);
}

describe('LevelStore lifecycle', () => {
  it('creates a missing data dir (with parents) and closes idempotently', async () => {
    const dir = join(root, 'a', 'b', 'data');
    const store = await LevelStore.open(opts(dir));
    await store.retained.put({ topic: 't', payload: Buffer.from('x') });
    const first = store.close();
    expect(store.close()).toBe(first);
    await first;
    await expect(store.retained.put({ topic: 't', payload: Buffer.from('y') })).rejects.toSatisfy((e: unknown) => hasCode(e, 'STORE_CLOSED'));
  });

  it('releases its lock through `await using`', async () => {
    const dir = join(root, 'data');
    {
      await using store = await LevelStore.open(opts(dir));
      await store.retained.put({ topic: 't', payload: Buffer.from('x') });
    }
    await using again = await LevelStore.open(opts(dir));
    expect(again.retained.size).toBe(1);
  });

  it('refuses a second open of the same data dir with STORE_LOCKED and a clear message', async () => {
    const dir = join(root, 'data');
    await using _store = await LevelStore.open(opts(dir));
    const err = await openError(opts(dir));
    expectCode(err, 'STORE_LOCKED');
    expect((err as Error).message).toBe(`data dir ${dir} is in use by another roost process; stop it or choose another --data-dir`);
    expect(((err as Error).cause as { code?: string }).code).toBe('LEVEL_DATABASE_NOT_OPEN');
  });

  it('refuses a store written by a newer layout version', async () => {
    const dir = join(root, 'data');
    const raw = new Level<string, string>(dir);
    await raw.put('!version', '99');
    await raw.close();
    const err = await openError(opts(dir));
    expectCode(err, 'STORE_VERSION_UNSUPPORTED');
    expect((err as Error).message).toMatch(/layout v99.*upgrade roost or choose another --data-dir$/);
    // and it let go of the lock
    const again = await openError(opts(dir));
    expectCode(again, 'STORE_VERSION_UNSUPPORTED');
  });

  it('writes the layout version into a new store', async () => {
    const dir = join(root, 'data');
    await (await LevelStore.open(opts(dir))).close();
    const raw = new Level<string, string>(dir);
    expect(await raw.get('!version')).toBe('2');
    await raw.close();
  });

  it('maps a data dir that cannot be created to STORE_UNWRITABLE', async () => {
    const file = join(root, 'not-a-dir');
    await writeFile(file, 'x');
    expectCode(await openError(opts(join(file, 'data'))), 'STORE_UNWRITABLE');
  });

  it('maps damaged LevelDB files to STORE_CORRUPT', async () => {
    const dir = join(root, 'data');
    await mkdir(dir);
    await writeFile(join(dir, 'CURRENT'), 'MANIFEST-999999\n');
    const err = await openError(opts(dir));
    expectCode(err, 'STORE_CORRUPT');
    expect((err as Error).message).toMatch(/damaged.*backup/);
  });

  it('validates its options', async () => {
    expectCode(await openError(opts(join(root, 'x'), { maxQueuedMessages: 0 })), 'CONFIG_INVALID');
    expectCode(await openError(opts(join(root, 'x'), { durability: 'sometimes' as never })), 'CONFIG_INVALID');
  });
});
