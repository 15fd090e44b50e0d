/**
 * The in-memory index of persisted subscriptions by filter: a trie keyed by
 * filter level whose nodes hold the subscriptions ending there, so finding
 * who is subscribed to a topic walks the topic's levels (plus the `+` and `#`
 * branches) instead of testing every filter.
 */

/** What the index holds per (client, filter); returned as-is by `match`. */
export interface IndexedSubscription {
  readonly clientId: string;
  readonly topic: string;
  readonly [field: string]: unknown;
}

interface Node {
  children: Map<string, Node> | undefined;
  subs: Map<string, IndexedSubscription> | undefined;
}

function newNode(): Node {
  return { children: undefined, subs: undefined };
}

const DOLLAR = 0x24;

export class SubscriptionIndex {
  #root: Node = newNode();
  #size = 0;

  /** Number of (client, filter) pairs held. */
  get size(): number {
    return this.#size;
  }

  /** Adds or replaces the subscription of `sub.clientId` to `sub.topic`. */
  set(sub: IndexedSubscription): void {
    let node = this.#root;
    for (const level of sub.topic.split('/')) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (!child) {
        child = newNode();
        node.children.set(level, child);
      }
      node = child;
    }
    node.subs ??= new Map();
    if (!node.subs.has(sub.clientId)) this.#size++;
    node.subs.set(sub.clientId, sub);
  }

  /** Removes `clientId`'s subscription to `filter`; true when it was there. */
  delete(clientId: string, filter: string): boolean {
    const levels = filter.split('/');
    const path: Node[] = [this.#root];
    let node = this.#root;
    for (const level of levels) {
      const child = node.children?.get(level);
      if (!child) return false;
      path.push(child);
      node = child;
    }
    if (!node.subs?.delete(clientId)) return false;
    this.#size--;
    for (let i = levels.length; i > 0; i--) {
      const n = path[i] as Node;
      if ((n.subs && n.subs.size > 0) || (n.children && n.children.size > 0)) break;
      (path[i - 1] as Node).children?.delete(levels[i - 1] as string);
    }
    return true;
  }

  /**
   * Subscriptions whose filter matches topic name `topic`: at each level `#`
   * first, then the exact level, then `+`. `+`/`#` at the first level do not
   * match a topic starting with `$` [MQTT-4.7.2-1].
   */
  match(topic: string): IndexedSubscription[] {
    const out: IndexedSubscription[] = [];
    walk(this.#root, topic.split('/'), 0, topic.charCodeAt(0) === DOLLAR, out);
    return out;
  }
}

function push(node: Node | undefined, out: IndexedSubscription[]): void {
  if (node?.subs) for (const sub of node.subs.values()) out.push(sub);
}

function walk(node: Node, levels: readonly string[], i: number, dollar: boolean, out: IndexedSubscription[]): void {
  const children = node.children;
  const wildcardsAllowed = i > 0 || !dollar;
  // [MQTT-4.7.1-2] `#` also matches the parent level, so it applies at every depth including the end.
  if (children && wildcardsAllowed) push(children.get('#'), out);
  if (i === levels.length) {
    push(node, out);
    return;
  }
  if (!children) return;
  const exact = children.get(levels[i] as string);
  if (exact) walk(exact, levels, i + 1, dollar, out);
  if (wildcardsAllowed) {
    const plus = children.get('+');
    if (plus) walk(plus, levels, i + 1, dollar, out);
  }
}
