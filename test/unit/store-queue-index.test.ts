import { describe, expect, it } from 'vitest';
import { QueueIndex, type EntryState } from '../../src/store/queue-index.js';

const entry = (id: number, key?: string, tag?: number): EntryState => ({ id, ref: id, key, tag, expiresAt: 0, tagUnsaved: false });

describe('queue index', () => {
  it('keeps append order and finds entries by key and tag, oldest first', () => {
    const q = new QueueIndex();
    const [a, b, c] = [entry(1, 'k1'), entry(2, 'k2', 7), entry(3, 'k1', 7)];
    for (const e of [a, b, c]) q.append(e);
    expect([...q.values()].map((e) => e.id)).toEqual([1, 2, 3]);
    expect(q.withKey('k1').map((e) => e.id)).toEqual([1, 3]);
    expect(q.withTag(7).map((e) => e.id)).toEqual([2, 3]);
    q.setTag(a, 7); // added to the tag set last, still reported in id order
    expect(q.withTag(7).map((e) => e.id)).toEqual([1, 2, 3]);
    q.setKey(c, undefined);
    expect(q.withKey('k1').map((e) => e.id)).toEqual([1]);
    expect(q.lastId).toBe(3);
    q.delete(c);
    expect(q.lastId).toBe(2);
    expect(q.withTag(7).map((e) => e.id)).toEqual([1, 2]);
    expect(q.first()?.id).toBe(1);
    expect(q.size).toBe(2);
    expect(q.withTag(99)).toEqual([]);
    expect(q.firstWithTag(7)?.id).toBe(1);
    expect(q.firstWithTag(99)).toBeUndefined();
    expect([q.hasTag(7), q.hasTag(99)]).toEqual([true, false]);
    q.setTag(b, 8);
    expect(q.firstWithTag(8)?.id).toBe(2);
    expect(q.withTag(7).map((e) => e.id)).toEqual([1]);
  });
});
