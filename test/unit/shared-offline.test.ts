import { describe, expect, it } from 'vitest';
import { offlineSharedChooser } from '../../src/core/shared-offline.js';
import type { SharedMember } from '../../src/store/index.js';

const member = (clientId: string, group = 'g', filter = 'jobs/#'): SharedMember => ({ clientId, topic: `$share/${group}/${filter}`, qos: 1, group, filter });

describe('offlineSharedChooser', () => {
  it('names the members of an offline group in turn, each group and filter keeping its own turn', () => {
    const choose = offlineSharedChooser(() => false);
    const members = [member('a'), member('b'), member('c')];
    const picks = Array.from({ length: 7 }, () => choose('g', 'jobs/#', members)?.clientId);
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
    const other = [member('x', 'h'), member('y', 'h')];
    expect(choose('h', 'jobs/#', other)?.clientId).toBe('x');
    expect(choose('g', 'jobs/#', members)?.clientId).toBe('b');
  });

  it('names nobody while the group has a live member', () => {
    const live = new Set(['g/jobs/#']);
    const choose = offlineSharedChooser((group, filter) => live.has(`${group}/${filter}`));
    expect(choose('g', 'jobs/#', [member('a')])).toBeUndefined();
    live.clear();
    expect(choose('g', 'jobs/#', [member('a')])?.clientId).toBe('a');
  });

  it('copes with a group that lost members since its last turn', () => {
    const choose = offlineSharedChooser(() => false);
    choose('g', 'jobs/#', [member('a'), member('b'), member('c')]);
    choose('g', 'jobs/#', [member('a'), member('b'), member('c')]);
    expect(choose('g', 'jobs/#', [member('a')])?.clientId).toBe('a');
    expect(choose('g', 'jobs/#', [])).toBeUndefined();
  });
});
