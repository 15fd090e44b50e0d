/**
 * Relations between two MQTT topic filters, for ACL decisions on
 * subscriptions: whether one filter matches every topic another matches
 * (covers), and whether any topic matches both (overlaps). Both follow the
 * matching rules of `src/core/topic.ts`, including that a wildcard in the
 * first level never matches a topic starting with `$` [MQTT-4.7.2-1].
 * Inputs are valid filters; pure functions, no state.
 */

function isWildcardLevel(level: string | undefined): boolean {
  return level === '+' || level === '#';
}

function startsWithDollar(level: string | undefined): boolean {
  return level !== undefined && level.charCodeAt(0) === 0x24;
}

/**
 * True when every topic name `filter` matches is also matched by `pattern`:
 * `sensors/#` covers `sensors/+/temp` and `sensors`; `sensors/+` does not
 * cover `sensors/#`; a `+` in `filter` is covered only by `+` or `#`.
 */
export function filterCovers(pattern: string, filter: string): boolean {
  const p = pattern.split('/');
  const f = filter.split('/');
  // `#` and `+` at the first level leave out `$` topics, so they cannot cover a filter that names one.
  if (isWildcardLevel(p[0]) && startsWithDollar(f[0])) return false;
  for (let i = 0; i < f.length; i++) {
    const pl = p[i];
    if (pl === '#') return true;
    const fl = f[i] as string;
    if (pl === undefined || fl === '#') return false;
    if (fl === '+') {
      if (pl !== '+') return false;
    } else if (pl !== '+' && pl !== fl) {
      return false;
    }
  }
  // `a/#` also matches `a` [MQTT-4.7.1-2].
  return p.length === f.length || (p.length === f.length + 1 && p[f.length] === '#');
}

/**
 * True when at least one topic name is matched by both `a` and `b`:
 * `secrets/#` overlaps `+/passwords` and `#`, not `public/#`.
 */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  if ((isWildcardLevel(x[0]) && startsWithDollar(y[0])) || (isWildcardLevel(y[0]) && startsWithDollar(x[0]))) return false;
  const length = Math.max(x.length, y.length);
  for (let i = 0; i < length; i++) {
    const xl = x[i];
    const yl = y[i];
    if (xl === '#' || yl === '#') return true;
    if (xl === undefined || yl === undefined) return false;
    if (xl !== '+' && yl !== '+' && xl !== yl) return false;
  }
  return true;
}
