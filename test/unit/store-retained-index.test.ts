import { describe, expect, it } from 'vitest';
import { RetainedIndex } from '../../src/store/retained-index.js';

function index(...topics: string[]): RetainedIndex {
  const idx = new RetainedIndex();
  for (const t of topics) idx.add(t);
  return idx;
}

const sorted = (a: string[]): string[] => [...a].sort();

describe('retained topic trie', () => {
  const idx = index('a', 'a/b', 'a/b/c', 'a/x/c', 'b/b', '$SYS/load', '$SYS/x/y', '/lead', 'a//c');

  it('matches exact topics', () => {
    expect(idx.match('a/b')).toEqual(['a/b']);
    expect(idx.match('a/q')).toEqual([]);
    expect(idx.match('/lead')).toEqual(['/lead']);
  });

  it('+ fills exactly one level, including an empty one', () => {
    expect(sorted(idx.match('a/+/c'))).toEqual(['a//c', 'a/b/c', 'a/x/c']);
    expect(sorted(idx.match('+/b'))).toEqual(['a/b', 'b/b']);
    expect(idx.match('+/lead')).toEqual(['/lead']);
  });

  it('# matches the parent level and everything below [MQTT-4.7.1-2]', () => {
    expect(sorted(idx.match('a/#'))).toEqual(['a', 'a//c', 'a/b', 'a/b/c', 'a/x/c']);
    expect(sorted(idx.match('a/b/#'))).toEqual(['a/b', 'a/b/c']);
  });

  it('wildcards at the first level skip $ topics [MQTT-4.7.2-1]', () => {
    expect(idx.match('#')).not.toContain('$SYS/load');
    expect(idx.match('+/load')).toEqual([]);
    expect(idx.match('+/#').some((t) => t.startsWith('$'))).toBe(false);
    expect(sorted(idx.match('$SYS/#'))).toEqual(['$SYS/load', '$SYS/x/y']);
    expect(idx.match('$SYS/+')).toEqual(['$SYS/load']);
  });

  it('counts, deletes and prunes', () => {
    const i = index('x/y/z', 'x/y');
    expect(i.size).toBe(2);
    expect(i.add('x/y')).toBe(false);
    expect(i.delete('x/y/z')).toBe(true);
    expect(i.delete('x/y/z')).toBe(false);
    expect(i.delete('x')).toBe(false);
    expect(i.has('x/y')).toBe(true);
    expect(i.match('x/#')).toEqual(['x/y']);
    expect(i.delete('x/y')).toBe(true);
    expect(i.size).toBe(0);
    expect(i.match('#')).toEqual([]);
  });

  it('walks only matching branches at scale', () => {
    const big = new RetainedIndex();
    for (let i = 0; i < 20_000; i++) big.add(`site/${i % 100}/dev/${i}/temp`);
    const hits = big.match('site/7/dev/+/temp');
    expect(hits).toHaveLength(200);
    expect(hits.every((t) => t.startsWith('site/7/dev/'))).toBe(true);
  });
});
