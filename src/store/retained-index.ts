/**
 * The in-memory index of retained topics: a trie keyed by topic level, so a
 * wildcard lookup walks only the branches the filter can match instead of
 * testing every retained topic. It holds topic names only; the messages stay
 * in LevelDB and are fetched for the topics a lookup returns.
 */

interface Node {
  children: Map<string, Node> | undefined;
  /** The full topic when a retained message ends at this node. */
  topic: string | undefined;
}

function newNode(): Node {
  return { children: undefined, topic: undefined };
}

const DOLLAR = 0x24;

export class RetainedIndex {
  #root: Node = newNode();
  #size = 0;

  /** Number of retained topics. */
  get size(): number {
    return this.#size;
  }

  /** Adds `topic`; true when it was not there yet. */
  add(topic: string): boolean {
    let node = this.#root;
    for (const level of topic.split('/')) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (!child) {
        child = newNode();
        node.children.set(level, child);
      }
      node = child;
    }
    if (node.topic !== undefined) return false;
    node.topic = topic;
    this.#size++;
    return true;
  }

  /** Removes `topic` and prunes branches left empty; true when it was there. */
  delete(topic: string): boolean {
    const levels = topic.split('/');
    const path: Node[] = [this.#root];
    let node = this.#root;
    for (const level of levels) {
      const child = node.children?.get(level);
      if (!child) return false;
      path.push(child);
      node = child;
    }
    if (node.topic === undefined) return false;
    node.topic = undefined;
    this.#size--;
    for (let i = levels.length; i > 0; i--) {
      const n = path[i] as Node;
      if (n.topic !== undefined || (n.children && n.children.size > 0)) break;
      (path[i - 1] as Node).children?.delete(levels[i - 1] as string);
    }
    return true;
  }

  has(topic: string): boolean {
    let node: Node | undefined = this.#root;
    for (const level of topic.split('/')) {
      node = node.children?.get(level);
      if (!node) return false;
    }
    return node.topic !== undefined;
  }

  /**
   * Topics matching `filter` (`+` one level, `#` the rest including the parent
   * level [MQTT-4.7.1-2]). A wildcard at the first level does not match topics
   * starting with `$` [MQTT-4.7.2-1]. `filter` is assumed valid.
   */
  match(filter: string, out: string[] = []): string[] {
    walk(this.#root, filter.split('/'), 0, out);
    return out;
  }
}

function walk(node: Node, levels: readonly string[], i: number, out: string[]): void {
  if (i === levels.length) {
    if (node.topic !== undefined) out.push(node.topic);
    return;
  }
  const level = levels[i] as string;
  if (level === '#') {
    if (node.topic !== undefined) out.push(node.topic);
    if (node.children) for (const [name, child] of node.children) if (i > 0 || name.charCodeAt(0) !== DOLLAR) collect(child, out);
    return;
  }
  if (!node.children) return;
  if (level === '+') {
    for (const [name, child] of node.children) if (i > 0 || name.charCodeAt(0) !== DOLLAR) walk(child, levels, i + 1, out);
    return;
  }
  const child = node.children.get(level);
  if (child) walk(child, levels, i + 1, out);
}

function collect(node: Node, out: string[]): void {
  if (node.topic !== undefined) out.push(node.topic);
  if (node.children) for (const child of node.children.values()) collect(child, out);
}
