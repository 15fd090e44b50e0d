/**
 * Filter-to-filter relations for ACL decisions, on patterns cut into levels
 * once when the ACL is loaded: whether one topic filter matches every topic
 * another matches (covers), and whether any topic matches both (overlaps);
 * a name against a pattern is `levelsMatch` in src/core/topic.ts. Both follow the matching rules of
 * `src/core/topic.ts`, including that a wildcard in the first level never
 * matches a topic starting with `$` [MQTT-4.7.2-1]. Inputs are valid filters
 * and names; pure functions, no state.
 */

/** A topic filter or name cut at each `/`. */
export type Levels = readonly string[];

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
export function levelsCover(pattern: Levels, filter: Levels): boolean {
  // `#` and `+` at the first level leave out `$` topics, so they cannot cover a filter that names one.
  if (isWildcardLevel(pattern[0]) && startsWithDollar(filter[0])) return false;
  for (let i = 0; i < filter.length; i++) {
    const pl = pattern[i];
    if (pl === '#') return true;
    const fl = filter[i] as string;
    if (pl === undefined || fl === '#') return false;
    if (fl === '+') {
      if (pl !== '+') return false;
    } else if (pl !== '+' && pl !== fl) {
      return false;
    }
  }
  // `a/#` also matches `a` [MQTT-4.7.1-2].
  return pattern.length === filter.length || (pattern.length === filter.length + 1 && pattern[filter.length] === '#');
}

/**
 * True when at least one topic name is matched by both `a` and `b`:
 * `secrets/#` overlaps `+/passwords` and `#`, not `public/#`.
 */
export function levelsOverlap(a: Levels, b: Levels): boolean {
  if ((isWildcardLevel(a[0]) && startsWithDollar(b[0])) || (isWildcardLevel(b[0]) && startsWithDollar(a[0]))) return false;
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const al = a[i];
    const bl = b[i];
    if (al === '#' || bl === '#') return true;
    if (al === undefined || bl === undefined) return false;
    if (al !== '+' && bl !== '+' && al !== bl) return false;
  }
  return true;
}

/** `levelsCover` on whole filters. */
export function filterCovers(pattern: string, filter: string): boolean {
  return levelsCover(pattern.split('/'), filter.split('/'));
}

/** `levelsOverlap` on whole filters. */
export function filtersOverlap(a: string, b: string): boolean {
  return levelsOverlap(a.split('/'), b.split('/'));
}
