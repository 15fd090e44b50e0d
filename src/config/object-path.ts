/**
 * Reads and writes nested plain objects by key path, for merging config
 * sources before validation. Anything that is not a plain object on the way
 * is left alone: validation reports it with its key.
 */

export type Plain = Record<string, unknown>;

/** A mapping, as YAML and JSON produce: not null, not a list. */
export function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when every segment exists, even if the value at the end is null. */
export function hasPath(target: Plain, segments: readonly string[]): boolean {
  let node: unknown = target;
  for (const segment of segments) {
    if (!isPlain(node) || !Object.hasOwn(node, segment)) return false;
    node = node[segment];
  }
  return true;
}

/** The value at `segments`, or undefined when the path does not exist. */
export function getPath(target: Plain, segments: readonly string[]): unknown {
  let node: unknown = target;
  for (const segment of segments) node = isPlain(node) ? node[segment] : undefined;
  return node;
}

/** Sets `value` at `segments`, creating missing (or null) mappings on the way. */
export function setPath(target: Plain, segments: readonly string[], value: unknown): void {
  let node = target;
  for (const segment of segments.slice(0, -1)) {
    const next = node[segment];
    if (next === undefined || next === null) {
      const created: Plain = {};
      node[segment] = created;
      node = created;
    } else if (isPlain(next)) {
      node = next;
    } else {
      return;
    }
  }
  const last = segments.at(-1);
  if (last !== undefined) node[last] = value;
}

/** Removes the key at `segments` if it exists. */
export function deletePath(target: Plain, segments: readonly string[]): void {
  const parent = getPath(target, segments.slice(0, -1));
  const last = segments.at(-1);
  if (isPlain(parent) && last !== undefined) delete parent[last];
}

/** Recursively freezes objects and arrays; returns its argument. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
