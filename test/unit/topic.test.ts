import { describe, expect, it } from 'vitest';
import { parseShared, topicFilterProblem, topicMatches, topicNameProblem } from '../../src/core/topic.js';

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
