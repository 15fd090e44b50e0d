import type { Message, QoS } from './message.js';
import { parseShared } from './topic.js';

/** Called once a target has taken a message (persisted it, or handed it to its connection). */
export type Accepted = (err?: Error | null) => void;

/**
 * Something that receives the messages matching a filter: an MQTT session's
 * subscription, a STOMP subscription, a durable queue binding, an internal
 * listener. The router holds targets, never sockets.
 */
export interface RouteTarget {
  deliver(message: RoutedMessage, accepted: Accepted): void;
  /**
   * Subscriptions of one session share an owner: a message matching several of
   * them is delivered once, at the highest granted QoS, carrying every
   * subscription identifier [MQTT-3.3.4-2], [MQTT-3.3.4-4].
   */
  readonly owner?: object;
  /** Granted QoS of this subscription; defaults to 2 (no downgrade). */
  readonly qos?: QoS;
  /** MQTT 5 subscription identifier of this subscription. */
  readonly subscriptionId?: number;
  /**
   * A durable target (a queue in the store) must accept before the publisher
   * is acknowledged. Live targets are never awaited, so one slow consumer
   * cannot hold up a publisher or anyone else.
   */
  readonly durable?: boolean;
}

/** The message as one owner receives it: identifiers of every matching subscription. */
export type RoutedMessage = Message & { readonly subscriptionIds?: readonly number[] };

export interface RouterOptions {
  /** Live deliveries a target may have outstanding before further QoS 0 messages to it are dropped. */
  readonly maxPendingPerTarget: number;
}

export interface RouterStats {
  /** Messages published into the router. */
  routed: number;
  /** QoS 0 deliveries dropped because their target had too many outstanding. */
  droppedSlow: number;
}

interface SharedGroup {
  readonly members: RouteTarget[];
  next: number;
}

class TrieNode {
  readonly children = new Map<string, TrieNode>();
  readonly targets = new Set<RouteTarget>();
  readonly groups = new Map<string, SharedGroup>();

  isEmpty(): boolean {
    return this.children.size === 0 && this.targets.size === 0 && this.groups.size === 0;
  }
}

/**
 * The subscription trie: the one place subscriptions live, whatever protocol
 * made them. Matching walks only the branches a topic can reach.
 * `$share/<group>/<filter>` subscriptions are kept per group at the inner
 * filter's node, and each message goes to one member per group, in turn.
 */
export class Router {
  readonly #root = new TrieNode();
  readonly #pending = new Map<RouteTarget, number>();
  readonly #maxPending: number;
  readonly stats: RouterStats = { routed: 0, droppedSlow: 0 };

  constructor(options: RouterOptions = { maxPendingPerTarget: 10_000 }) {
    this.#maxPending = options.maxPendingPerTarget;
  }

  /** Adds `target` under `filter` (which may be a `$share` filter). The filter must already be valid. */
  subscribe(filter: string, target: RouteTarget): void {
    const shared = parseShared(filter);
    const node = this.#nodeFor(shared ? shared.filter : filter, true) as TrieNode;
    if (!shared) {
      node.targets.add(target);
      return;
    }
    let group = node.groups.get(shared.group);
    if (!group) {
      group = { members: [], next: 0 };
      node.groups.set(shared.group, group);
    }
    if (!group.members.includes(target)) group.members.push(target);
  }

  /** Removes `target` from `filter`; a no-op when it was not there. */
  unsubscribe(filter: string, target: RouteTarget): void {
    const shared = parseShared(filter);
    const levels = (shared ? shared.filter : filter).split('/');
    const path: TrieNode[] = [this.#root];
    let node: TrieNode | undefined = this.#root;
    for (const level of levels) {
      node = node.children.get(level);
      if (!node) return;
      path.push(node);
    }
    if (!shared) {
      node.targets.delete(target);
    } else {
      const group = node.groups.get(shared.group);
      if (group) {
        const at = group.members.indexOf(target);
        if (at >= 0) group.members.splice(at, 1);
        if (group.members.length === 0) node.groups.delete(shared.group);
      }
    }
    this.#pending.delete(target);
    // Prune empty branches so churn of unique topics does not leak nodes.
    for (let i = path.length - 1; i > 0; i--) {
      const child = path[i] as TrieNode;
      if (!child.isEmpty()) break;
      (path[i - 1] as TrieNode).children.delete(levels[i - 1] as string);
    }
  }

  /**
   * Routes `message` to every matching target. `accepted` runs once every
   * durable target has taken it; live targets are handed the message and not
   * awaited.
   */
  publish(message: Message, accepted: Accepted): void {
    this.stats.routed++;
    const matches: RouteTarget[] = [];
    this.#collect(message.topic, matches);
    if (matches.length === 0) {
      accepted();
      return;
    }

    let waiting = 1;
    let failure: Error | null = null;
    const settle = (err?: Error | null): void => {
      if (err && !failure) failure = err;
      if (--waiting === 0) accepted(failure);
    };

    for (const [target, routed] of this.#mergeByOwner(matches, message)) {
      if (target.durable) {
        waiting++;
        target.deliver(routed, settle);
      } else {
        this.#deliverLive(target, routed);
      }
    }
    settle();
  }

  #deliverLive(target: RouteTarget, message: RoutedMessage): void {
    const pending = this.#pending.get(target) ?? 0;
    if (pending >= this.#maxPending && message.qos === 0) {
      this.stats.droppedSlow++;
      return;
    }
    this.#pending.set(target, pending + 1);
    target.deliver(message, () => {
      const left = (this.#pending.get(target) ?? 1) - 1;
      if (left <= 0) this.#pending.delete(target);
      else this.#pending.set(target, left);
    });
  }

  /** Picks, per owner, the subscription with the highest QoS and gathers every identifier. */
  #mergeByOwner(matches: RouteTarget[], message: Message): Iterable<[RouteTarget, RoutedMessage]> {
    if (matches.length === 1) {
      const only = matches[0] as RouteTarget;
      return [[only, withIds(message, only.subscriptionId === undefined ? undefined : [only.subscriptionId])]];
    }
    const byOwner = new Map<object, { best: RouteTarget; ids: number[] }>();
    const out: [RouteTarget, RoutedMessage][] = [];
    for (const target of matches) {
      if (!target.owner) {
        out.push([target, withIds(message, target.subscriptionId === undefined ? undefined : [target.subscriptionId])]);
        continue;
      }
      const seen = byOwner.get(target.owner);
      if (!seen) {
        byOwner.set(target.owner, { best: target, ids: target.subscriptionId === undefined ? [] : [target.subscriptionId] });
        continue;
      }
      if ((target.qos ?? 2) > (seen.best.qos ?? 2)) seen.best = target;
      if (target.subscriptionId !== undefined && !seen.ids.includes(target.subscriptionId)) seen.ids.push(target.subscriptionId);
    }
    for (const { best, ids } of byOwner.values()) out.push([best, withIds(message, ids.length > 0 ? ids : undefined)]);
    return out;
  }

  #collect(topic: string, out: RouteTarget[]): void {
    const levels = topic.split('/');
    // [MQTT-4.7.2-1] wildcards at the first level do not match `$` topics.
    const dollar = topic.charCodeAt(0) === 0x24;
    this.#walk(this.#root, levels, 0, dollar, out);
  }

  #walk(node: TrieNode, levels: string[], depth: number, dollar: boolean, out: RouteTarget[]): void {
    const wildOk = !(dollar && depth === 0);
    if (wildOk) {
      const hash = node.children.get('#');
      // `#` matches the parent level too: `a/#` matches `a` [MQTT-4.7.1-2].
      if (hash) this.#take(hash, out);
    }
    if (depth === levels.length) {
      this.#take(node, out);
      return;
    }
    const level = levels[depth] as string;
    const exact = node.children.get(level);
    if (exact) this.#walk(exact, levels, depth + 1, dollar, out);
    if (wildOk) {
      const plus = node.children.get('+');
      if (plus) this.#walk(plus, levels, depth + 1, dollar, out);
    }
  }

  #take(node: TrieNode, out: RouteTarget[]): void {
    for (const target of node.targets) out.push(target);
    for (const group of node.groups.values()) {
      const members = group.members;
      if (members.length === 0) continue;
      const pick = members[group.next % members.length] as RouteTarget;
      group.next = (group.next + 1) % members.length;
      out.push(pick);
    }
  }

  #nodeFor(filter: string, create: boolean): TrieNode | undefined {
    let node = this.#root;
    for (const level of filter.split('/')) {
      let child = node.children.get(level);
      if (!child) {
        if (!create) return undefined;
        child = new TrieNode();
        node.children.set(level, child);
      }
      node = child;
    }
    return node;
  }

  /** Number of (filter, target) pairs held, shared members included. */
  get size(): number {
    let count = 0;
    const visit = (node: TrieNode): void => {
      count += node.targets.size;
      for (const group of node.groups.values()) count += group.members.length;
      for (const child of node.children.values()) visit(child);
    };
    visit(this.#root);
    return count;
  }
}

function withIds(message: Message, ids: readonly number[] | undefined): RoutedMessage {
  return ids === undefined ? message : { ...message, subscriptionIds: ids };
}
