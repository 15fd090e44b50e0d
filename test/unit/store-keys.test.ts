import { describe, expect, it } from 'vitest';
import { clientItemKey, clientPrefix, encodeSeq, escapeName, parseClientItemKey, parseQueueEntryKey, prefixRange, queueEntryKey, SUBSCRIPTION_PREFIX, unescapeName } from '../../src/store/keys.js';

describe('store key layout', () => {
  it('escapes names injectively and without NUL', () => {
    const names = ['abc', 'a\u0000b', 'a\u0001b', 'a\u0001\u0001b', 'a\u0001\u0002', '\u0000', ''];
    const escaped = names.map(escapeName);
    expect(new Set(escaped).size).toBe(names.length);
    for (let i = 0; i < names.length; i++) {
      expect(escaped[i]).not.toContain('\u0000');
      expect(unescapeName(escaped[i] as string)).toBe(names[i]);
    }
  });

  it('keeps one client range clear of a client whose id extends it', () => {
    const range = prefixRange(clientPrefix(SUBSCRIPTION_PREFIX, 'abc'));
    const inside = clientItemKey(SUBSCRIPTION_PREFIX, 'abc', 'x/y');
    const outside = clientItemKey(SUBSCRIPTION_PREFIX, 'abcd', 'x/y');
    expect(inside >= range.gte && inside < range.lt).toBe(true);
    expect(outside >= range.gte && outside < range.lt).toBe(false);
    expect(parseClientItemKey(SUBSCRIPTION_PREFIX, clientItemKey(SUBSCRIPTION_PREFIX, 'a\u0000b', 'f/#'))).toEqual({ clientId: 'a\u0000b', item: 'f/#' });
  });

  it('orders sequence numbers numerically and parses queue keys back', () => {
    const seqs = [1, 15, 16, 255, 4096, 2 ** 40, Number.MAX_SAFE_INTEGER];
    const keys = seqs.map((s) => queueEntryKey('mqtt:c', s));
    expect([...keys].sort()).toEqual(keys);
    expect(encodeSeq(255)).toBe('000000000000ff');
    expect(parseQueueEntryKey(queueEntryKey('q\u0000x', 42))).toEqual({ name: 'q\u0000x', seq: 42 });
  });
});
