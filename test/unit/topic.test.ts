import { describe, expect, it } from 'vitest';
import { TopicTree } from '../../src/core/topic-tree.js';
import { levelsMatch, parseShared, topicFilterProblem, topicMatches, topicNameProblem } from '../../src/core/topic.js';

describe('topic names', () => {
  it.each(['a', 'a/b/c', '/leading', 'trailing/', 'a//b', '$SYS/broker/uptime', 'ünïcödé/✓'])('accepts %j', (name) => {
    expect(topicNameProblem(name)).toBeUndefined();
  });
  it.each([
    ['', 'is empty'],
    ['a/+/c', 'contains a wildcard'],
    ['a/#', 'contains a wildcard'],
    ['nul\u0000byte', 'contains U+0000'],
  ])('refuses %j (%s)', (name, problem) => {
    expect(topicNameProblem(name)).toBe(problem);
  });
  it('enforces the byte length and level limits', () => {
    const limits = { maxTopicBytes: 10, maxTopicLevels: 3 };
    expect(topicNameProblem('ééééé/x', limits)).toMatch(/longer than 10 bytes/);
    expect(topicNameProblem('a/b/c/d', limits)).toMatch(/more than 3 levels/);
    expect(topicNameProblem('a/b/c', limits)).toBeUndefined();
  });
});

describe('topic filters', () => {
  it.each(['#', '+', 'a/+/c', 'a/#', '+/+', '/+', '$share/g/a/#', '$share/g/+'])('accepts %j', (filter) => {
    expect(topicFilterProblem(filter)).toBeUndefined();
  });
  it.each(['a/#/c', 'a#', 'a/b#', 'a+/b', '++', '$share/g', '$share//a', '$share/g+/a', ''])('refuses %j', (filter) => {
    expect(topicFilterProblem(filter)).toBeDefined();
  });
  it('splits a shared filter', () => {
    expect(parseShared('$share/workers/jobs/#')).toEqual({ group: 'workers', filter: 'jobs/#' });
    expect(parseShared('jobs/#')).toBeUndefined();
  });
});

describe('matching', () => {
  it.each([
    ['a/b/c', 'a/b/c', true],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/b/d', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+', 'a', true],
    ['+', 'a/b', false],
    ['+/+', '/x', true],
    ['a/+', 'a/', true],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['a/b', 'a/b/c', false],
  ])('%j matches %j: %s', (filter, name, expected) => {
    expect(topicMatches(filter, name)).toBe(expected);
  });
});

describe('levelsMatch (patterns cut into levels once)', () => {
  // Every pair of these, compared with TopicTree, which matches by walking its own trie.
  const filters = ['#', '+', '+/+', '+/#', 'a', 'a/#', 'a/+', 'a/b', 'a/b/c', 'a/+/c', 'a/b/#', '/a', '/+', '+/', 'a/', 'a//b', 'a/+/+', '$SYS/#', '$SYS/+', 'ab', 'a/bc', '$x'];
  const names = ['a', 'a/b', 'a/b/c', 'a/bc', 'ab', 'a/', '/a', '/', 'a//b', 'a/x/c', 'b', '$SYS/x', '$SYS', '$x', 'a/b/c/d', 'abc/b'];
  it('agrees with TopicTree on every pair', () => {
    const tree = new TopicTree<string>();
    for (const filter of filters) tree.upsert(filter, () => filter);
    for (const name of names) {
      const found = new Set<string>();
      tree.matchTopic(name, (filter) => found.add(filter));
      for (const filter of filters) expect(levelsMatch(filter.split('/'), name), `${filter} ~ ${name}`).toBe(found.has(filter));
    }
  });

  it('matches a level as a whole, never a prefix of it', () => {
    expect(levelsMatch(['a', 'b'], 'a/bc')).toBe(false);
    expect(levelsMatch(['a', 'bc'], 'a/b')).toBe(false);
    expect(levelsMatch(['a', '#'], 'a')).toBe(true); // [MQTT-4.7.1-2]
    expect(levelsMatch(['+'], '$SYS')).toBe(false); // [MQTT-4.7.2-1]
  });
});
