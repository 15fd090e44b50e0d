import { describe, expect, it } from 'vitest';
import { InOrder } from '../../protocols/stomp/in-order.js';

/** A promise settled from outside. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function tracker() {
  const released: string[] = [];
  const failed: Array<[string, unknown]> = [];
  const order = new InOrder<string>({
    released: (item) => released.push(item),
    failed: (err, item) => failed.push([item, err]),
  });
  return { order, released, failed };
}

describe('InOrder', () => {
  it('answers slots in the order they were taken, whatever order their work finishes in', async () => {
    const { order, released } = tracker();
    const works = [deferred(), deferred(), deferred()];
    works.forEach((w, i) => order.add(w.promise, `r${i}`, true));
    works[2]?.resolve();
    works[1]?.resolve();
    await turn();
    expect(released).toEqual([]);
    works[0]?.resolve();
    await turn();
    expect(released).toEqual(['r0', 'r1', 'r2']);
    expect(order.frames).toBe(0);
  });

  it('answers only the slots taken with answer, but still waits for the others', async () => {
    const { order, released } = tracker();
    const first = deferred();
    order.add(first.promise, 'silent', false);
    order.add(undefined, 'loud', true);
    await turn();
    expect(released).toEqual([]);
    first.resolve();
    await turn();
    expect(released).toEqual(['loud']);
  });

  it('reports a rejection at once and keeps later answers behind it', async () => {
    const { order, released, failed } = tracker();
    const first = deferred();
    const second = deferred();
    order.add(first.promise, 'a', true);
    order.add(second.promise, 'b', true);
    second.reject(new Error('disk full'));
    await turn();
    expect(failed.map(([item]) => item)).toEqual(['b']);
    expect(released).toEqual([]);
    first.resolve();
    await turn();
    expect(released).toEqual(['a', 'b']);
  });

  it('resolves idle() once every earlier slot is released, and not before', async () => {
    const { order } = tracker();
    const work = deferred();
    order.add(work.promise, 'x', false);
    let idle = false;
    void order.idle().then(() => (idle = true));
    await turn();
    expect(idle).toBe(false);
    work.resolve();
    await turn();
    expect(idle).toBe(true);
  });

  it('counts frames and bytes until release, and resolves below() once under both bounds', async () => {
    const { order } = tracker();
    const works = [deferred(), deferred(), deferred()];
    works.forEach((w) => order.add(w.promise, 'x', false, 100));
    expect(order.frames).toBe(3);
    expect(order.bytes).toBe(300);
    let below = false;
    void order.below(1, 150).then(() => (below = true));
    works[0]?.resolve();
    await turn();
    expect([order.frames, order.bytes, below]).toEqual([2, 200, false]);
    works[1]?.resolve();
    await turn();
    expect([order.frames, order.bytes, below]).toEqual([1, 100, true]);
    works[2]?.resolve();
    await turn();
    expect([order.frames, order.bytes]).toEqual([0, 0]);
  });

  it('keeps thousands of slots in order across its compaction', async () => {
    const { order, released } = tracker();
    const works = Array.from({ length: 5_000 }, () => deferred());
    works.forEach((w, i) => order.add(w.promise, String(i), true));
    // Settle from the back in two halves, so the head moves in large steps.
    for (let i = works.length - 1; i >= 2_500; i--) works[i]?.resolve();
    for (let i = 0; i < 2_500; i++) works[i]?.resolve();
    await turn();
    expect(released).toEqual(works.map((_, i) => String(i)));
    expect(order.frames).toBe(0);
  });
});
