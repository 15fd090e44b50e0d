import { describe, expect, it } from 'vitest';
import { GroupCommit, type BatchOp } from '../../src/store/group-commit.js';

/** A batch writer the test completes by hand, to watch what lands together. */
function manualWriter() {
  const batches: Array<{ ops: BatchOp[]; done: () => void; fail: (e: Error) => void }> = [];
  const write = (ops: BatchOp[]): Promise<void> =>
    new Promise((resolve, reject) => batches.push({ ops, done: resolve, fail: reject }));
  return { batches, write };
}

const put = (key: string, v = key): BatchOp => ({ type: 'put', key, value: Buffer.from(v) });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('group commit', () => {
  it('coalesces writes made during a batch into the next single batch, and resolves each after its batch', async () => {
    const { batches, write } = manualWriter();
    const gc = new GroupCommit(write);
    const settled: string[] = [];
    const a = gc.submit([put('a')]).then(() => settled.push('a'));
    await tick();
    expect(batches).toHaveLength(1);
    const rest = ['b', 'c', 'd'].map((k) => gc.submit([put(k)]).then(() => settled.push(k)));
    await tick();
    expect(batches).toHaveLength(1); // b, c, d wait for a's batch
    expect(settled).toEqual([]);
    batches[0]?.done();
    await a;
    expect(settled).toEqual(['a']);
    await tick();
    expect(batches).toHaveLength(2);
    expect(batches[1]?.ops.map((o) => o.key)).toEqual(['b', 'c', 'd']);
    expect(settled).toEqual(['a']); // not before their batch is written
    batches[1]?.done();
    await Promise.all(rest);
    expect(settled).toEqual(['a', 'b', 'c', 'd']);
    expect(gc.stats).toEqual({ batches: 2, ops: 4, largestBatch: 3 });
    expect(gc.idle).toBe(true);
  });

  it('shows pending writes until their batch lands, latest write winning', async () => {
    const { batches, write } = manualWriter();
    const gc = new GroupCommit(write);
    const first = gc.submit([put('k', 'one')]);
    await tick();
    const second = gc.submit([{ type: 'del', key: 'k' }]);
    expect(gc.pending('k')).toBeNull();
    batches[0]?.done();
    await first;
    expect(gc.pending('k')).toBeNull(); // the del is still queued
    await tick();
    batches[1]?.done();
    await second;
    expect(gc.pending('k')).toBeUndefined();
  });

  it('rejects every writer of a failed batch and keeps going', async () => {
    const { batches, write } = manualWriter();
    const gc = new GroupCommit(write);
    const p1 = gc.submit([put('x')]);
    const p2 = gc.submit([put('y')]);
    await tick();
    batches[0]?.fail(new Error('disk full'));
    await expect(p1).rejects.toThrow('disk full');
    await expect(p2).rejects.toThrow('disk full');
    const p3 = gc.submit([put('z')]);
    await tick();
    batches[1]?.done();
    await expect(p3).resolves.toBeUndefined();
  });

  it('flushed() waits for everything submitted so far', async () => {
    const { batches, write } = manualWriter();
    const gc = new GroupCommit(write);
    void gc.submit([put('x')]);
    let flushed = false;
    const f = gc.flushed().then(() => (flushed = true));
    await tick();
    expect(flushed).toBe(false);
    batches[0]?.done();
    await f;
    expect(flushed).toBe(true);
  });

  it('writes detached operations with the next batch, shows them until then, and settles nobody for them', async () => {
    const { batches, write } = manualWriter();
    const gc = new GroupCommit(write);
    const waited = gc.submit([put('a')]);
    await tick();
    gc.submitDetached([{ type: 'del', key: 'a' }, { type: 'del', key: 'gone' }]);
    expect(gc.pending('a')).toBeNull(); // over the pending put
    expect(gc.pending('gone')).toBeUndefined(); // nothing pending to hide
    batches[0]?.done();
    await waited;
    await tick();
    expect(batches[1]?.ops).toEqual([{ type: 'del', key: 'a' }, { type: 'del', key: 'gone' }]);
    expect(gc.idle).toBe(false);
    batches[1]?.fail(new Error('disk full')); // nobody waits for it: nothing to reject
    await gc.flushed();
    expect(gc.pending('a')).toBeUndefined();
    expect(gc.idle).toBe(true);
  });
});
