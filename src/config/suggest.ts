/**
 * "Did you mean" for configuration keys: a misspelt key should cost the user
 * one glance at the error, not a trip to the documentation.
 */

/** Optimal string alignment distance: Levenshtein plus adjacent transposition (`prot` → `port` is 1). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      d[i * cols + j] = best;
    }
  }
  return at(a.length, b.length);
}

/** Case, `-` and `_` do not distinguish keys a human meant: `max_packet_bytes` is `maxPacketBytes`. */
function normalize(word: string): string {
  return word.toLowerCase().replace(/[-_]/g, '');
}

function tolerance(word: string): number {
  if (word.length <= 3) return 1;
  if (word.length <= 7) return 2;
  return 3;
}

function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}

function parentOf(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot === -1 ? '' : path.slice(0, dot);
}

/**
 * The known path the user most likely meant by `unknown`, or undefined.
 * A sibling spelt the same but for case, `-` or `_` wins; then a key of the
 * same name in another section (a top-level `port` means `mqtt.port`); then
 * the closest sibling within a few edits (a typo).
 */
export function suggestKey(unknown: string, known: Iterable<string>): string | undefined {
  const wanted = normalize(lastSegment(unknown));
  const parent = parentOf(unknown);
  let best: string | undefined;
  let bestDistance = Infinity;
  const elsewhere: string[] = [];
  for (const candidate of known) {
    const name = normalize(lastSegment(candidate));
    if (parentOf(candidate) !== parent) {
      if (name === wanted) elsewhere.push(candidate);
      continue;
    }
    const distance = editDistance(wanted, name);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined && bestDistance === 0) return best;
  if (elsewhere.length === 1) return elsewhere[0];
  return best !== undefined && bestDistance <= tolerance(wanted) ? best : undefined;
}
