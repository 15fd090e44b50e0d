/**
 * Shared subscriptions while a group is offline. The Router hands a shared
 * group's messages to its live members in turn; a message published while
 * the group has no live member is queued for one of its persistent members
 * instead, also in turn, and reaches it when it connects again. With a live
 * member nothing is queued: the Router's delivery is the group's one copy.
 */
import type { SharedChooser, SharedMember } from '../store/index.js';

/** `isLive(group, filter)`: whether `$share/<group>/<filter>` has a subscriber now. */
export function offlineSharedChooser(isLive: (group: string, filter: string) => boolean): SharedChooser {
  // The next member's place, per group and filter.
  const turns = new Map<string, number>();
  return (group: string, filter: string, members: readonly SharedMember[]): SharedMember | undefined => {
    if (members.length === 0 || isLive(group, filter)) return undefined;
    const key = `${group}\u0000${filter}`;
    const turn = (turns.get(key) ?? 0) % members.length;
    turns.set(key, turn + 1);
    return members[turn];
  };
}
