import { describe, expect, it } from 'vitest';
import { TopicTree } from '../../src/core/topic-tree.js';
import { topicMatches } from '../../src/core/topic.js';

const filters = ['#', '+', 'a', 'a/#', 'a/+', 'a/b', 'a/+/c', '+/b/#', '+/+', '/#', '$SYS/#', '+/x', 'a//c', 'a/+/+', '$SYS/+'];
const names = ['a', 'a/b', 'a/b/c', 'a/x/c', 'b/b', 'b/b/c/d', '/x', '$SYS/x', '$SYS', 'a//c', 'x', 'a/'];

describe('TopicTree', () => {
  it('finds the stored filters matching a topic exactly as topicMatches does', () => {
    const tree = new TopicTree<string>();
    for (const f of filters) tree.upsert(f, () => f);
    for (const name of names) {
      const found: string[] = [];
      tree.matchTopic(name, (f) => found.push(f));
      expect(found.sort(), name).toEqual(filters.filter((f) => topicMatches(f, name)).sort());
    }
  });

  it('finds the stored names a filter matches exactly as topicMatches does', () => {
    const tree = new TopicTree<string>();
    for (const n of names) tree.upsert(n, () => n);
    for (const filter of filters) {
      const found: string[] = [];
      tree.matchFilter(filter, (n) => found.push(n));
      expect(found.sort(), filter).toEqual(names.filter((n) => topicMatches(filter, n)).sort());
    }
  });

  it('keeps one value per path and forgets it on delete', () => {
    const tree = new TopicTree<{ n: number }>();
    const first = tree.upsert('a/b/c', () => ({ n: 1 }));
    expect(tree.upsert('a/b/c', () => ({ n: 2 }))).toBe(first);
    tree.upsert('a/b', () => ({ n: 3 }));
    expect(tree.size).toBe(2);
    expect(tree.delete('a/b/c')).toBe(true);
    expect(tree.delete('a/b/c')).toBe(false);
    expect(tree.get('a/b/c')).toBeUndefined();
    expect(tree.get('a/b')).toEqual({ n: 3 });
    expect(tree.size).toBe(1);
  });
});
