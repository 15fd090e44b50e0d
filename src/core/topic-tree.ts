/**
 * A trie keyed by topic level, holding one value per path. It serves both
 * directions of MQTT matching without scanning:
 * - paths are filters, looked up by a topic name (`matchTopic`): who is
 *   subscribed to this topic;
 * - paths are topic names, looked up by a filter (`matchFilter`): which
 *   retained topics a new subscription sees.
 * `+`/`#` at the first level never meet a topic starting with `$`
 * [MQTT-4.7.2-1]; `#` also matches the parent level [MQTT-4.7.1-2].
 */

interface Node<V> {
  children: Map<string, Node<V>> | undefined;
  value: V | undefined;
}

const DOLLAR = 0x24;

function newNode<V>(): Node<V> {
  return { children: undefined, value: undefined };
}

export class TopicTree<V> {
  readonly #root: Node<V> = newNode();
  #size = 0;

  /** Paths holding a value. */
  get size(): number {
    return this.#size;
  }

  get(path: string): V | undefined {
    let node: Node<V> | undefined = this.#root;
    for (const level of path.split('/')) {
      node = node.children?.get(level);
      if (!node) return undefined;
    }
    return node.value;
  }

  /** The value at `path`, made with `create` when there is none. */
  upsert(path: string, create: () => V): V {
    let node = this.#root;
    for (const level of path.split('/')) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (!child) {
        child = newNode();
        node.children.set(level, child);
      }
      node = child;
    }
    if (node.value === undefined) {
      node.value = create();
      this.#size++;
    }
    return node.value;
  }

  /** Removes the value at `path` and prunes the branches left empty; true when there was one. */
  delete(path: string): boolean {
    const levels = path.split('/');
    const trail: Node<V>[] = [this.#root];
    let node = this.#root;
    for (const level of levels) {
      const child = node.children?.get(level);
      if (!child) return false;
      trail.push(child);
      node = child;
    }
    if (node.value === undefined) return false;
    node.value = undefined;
    this.#size--;
    for (let i = levels.length; i > 0; i--) {
      const n = trail[i] as Node<V>;
      if (n.value !== undefined || (n.children && n.children.size > 0)) break;
      (trail[i - 1] as Node<V>).children?.delete(levels[i - 1] as string);
    }
    return true;
  }

  /** Calls `visit` with the value of every stored filter that matches topic name `topic`. */
  matchTopic(topic: string, visit: (value: V) => void): void {
    walkFilters(this.#root, topic.split('/'), 0, topic.charCodeAt(0) === DOLLAR, visit);
  }

  /** Calls `visit` with the value of every stored topic name that `filter` matches. `filter` is assumed valid. */
  matchFilter(filter: string, visit: (value: V) => void): void {
    walkNames(this.#root, filter.split('/'), 0, visit);
  }
}

function take<V>(node: Node<V> | undefined, visit: (value: V) => void): void {
  if (node?.value !== undefined) visit(node.value);
}

function walkFilters<V>(node: Node<V>, levels: readonly string[], i: number, dollar: boolean, visit: (value: V) => void): void {
  const children = node.children;
  const wildcards = i > 0 || !dollar;
  if (children && wildcards) take(children.get('#'), visit);
  if (i === levels.length) {
    take(node, visit);
    return;
  }
  if (!children) return;
  const exact = children.get(levels[i] as string);
  if (exact) walkFilters(exact, levels, i + 1, dollar, visit);
  if (wildcards) {
    const plus = children.get('+');
    if (plus) walkFilters(plus, levels, i + 1, dollar, visit);
  }
}

function walkNames<V>(node: Node<V>, levels: readonly string[], i: number, visit: (value: V) => void): void {
  if (i === levels.length) {
    take(node, visit);
    return;
  }
  const level = levels[i] as string;
  if (level === '#') {
    take(node, visit);
    if (node.children) for (const [name, child] of node.children) if (i > 0 || name.charCodeAt(0) !== DOLLAR) collect(child, visit);
    return;
  }
  if (!node.children) return;
  if (level === '+') {
    for (const [name, child] of node.children) if (i > 0 || name.charCodeAt(0) !== DOLLAR) walkNames(child, levels, i + 1, visit);
    return;
  }
  const child = node.children.get(level);
  if (child) walkNames(child, levels, i + 1, visit);
}

function collect<V>(node: Node<V>, visit: (value: V) => void): void {
  take(node, visit);
  if (node.children) for (const child of node.children.values()) collect(child, visit);
}
