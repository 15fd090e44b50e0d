import { describe, expect, it } from 'vitest';
import { SubscriptionIndex } from '../../src/store/subscription-index.js';

describe('subscription filter trie', () => {
  it('returns # before the exact level before +, one entry per (client, filter)', () => {
    const idx = new SubscriptionIndex();
    idx.set({ clientId: 'c1', topic: 'hello', qos: 1 });
    idx.set({ clientId: 'c1', topic: 'hello/#', qos: 1 });
    idx.set({ clientId: 'c2', topic: '+', qos: 2 });
    idx.set({ clientId: 'c3', topic: '#', qos: 1 });
    expect(idx.match('hello').map((s) => `${s.clientId} ${s.topic}`)).toEqual(['c3 #', 'c1 hello/#', 'c1 hello', 'c2 +']);
    expect(idx.match('hello/x/y').map((s) => s.topic)).toEqual(['#', 'hello/#']);
    expect(idx.size).toBe(4);
  });

  it('replaces the subscription of the same client to the same filter', () => {
    const idx = new SubscriptionIndex();
    idx.set({ clientId: 'c1', topic: 'a/b', qos: 1 });
    idx.set({ clientId: 'c1', topic: 'a/b', qos: 2 });
    expect(idx.size).toBe(1);
    expect(idx.match('a/b')).toEqual([{ clientId: 'c1', topic: 'a/b', qos: 2 }]);
  });

  it('first-level wildcards do not match $ topics [MQTT-4.7.2-1]', () => {
    const idx = new SubscriptionIndex();
    idx.set({ clientId: 'c1', topic: '#', qos: 1 });
    idx.set({ clientId: 'c1', topic: '+/load', qos: 1 });
    idx.set({ clientId: 'c2', topic: '$SYS/#', qos: 1 });
    expect(idx.match('$SYS/load').map((s) => s.clientId)).toEqual(['c2']);
  });

  it('deletes and prunes', () => {
    const idx = new SubscriptionIndex();
    idx.set({ clientId: 'c1', topic: 'a/+/c', qos: 1 });
    expect(idx.delete('c2', 'a/+/c')).toBe(false);
    expect(idx.delete('c1', 'a/+')).toBe(false);
    expect(idx.delete('c1', 'a/+/c')).toBe(true);
    expect(idx.size).toBe(0);
    expect(idx.match('a/b/c')).toEqual([]);
  });
});
