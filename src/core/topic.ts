/**
 * MQTT topic rules, shared by every protocol: what a topic name and a topic
 * filter may hold, whether a filter matches a name, and the `$share` syntax.
 * Pure functions, no state.
 */

/** Limits applied to every topic and filter, whatever protocol carried it. */
export interface TopicLimits {
  /** Longest topic in UTF-8 bytes; MQTT allows 65,535. */
  readonly maxTopicBytes: number;
  /** Most levels (`/`-separated parts) in a topic or filter. */
  readonly maxTopicLevels: number;
}

export const DEFAULT_TOPIC_LIMITS: TopicLimits = Object.freeze({
  maxTopicBytes: 65_535,
  maxTopicLevels: 128,
});

const SHARE_PREFIX = '$share/';

function commonProblem(topic: string, limits: TopicLimits): string | undefined {
  if (topic.length === 0) return 'is empty'; // [MQTT-4.7.3-1]
  if (Buffer.byteLength(topic, 'utf8') > limits.maxTopicBytes) return `is longer than ${limits.maxTopicBytes} bytes`;
  if (topic.includes('\u0000')) return 'contains U+0000'; // [MQTT-4.7.3-2]
  let levels = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 0x2f) levels++;
  if (levels > limits.maxTopicLevels) return `has more than ${limits.maxTopicLevels} levels`;
  return undefined;
}

/**
 * Why `name` cannot be published to, or undefined when it can.
 * A topic name carries no wildcard [MQTT-3.3.2-2].
 */
export function topicNameProblem(name: string, limits: TopicLimits = DEFAULT_TOPIC_LIMITS): string | undefined {
  const common = commonProblem(name, limits);
  if (common) return common;
  if (name.includes('+') || name.includes('#')) return 'contains a wildcard';
  return undefined;
}

/**
 * Why `filter` cannot be subscribed to, or undefined when it can.
 * `+` fills a whole level; `#` is last and fills a whole level [MQTT-4.7.1-1..3].
 * A `$share/<group>/<filter>` filter is checked as its inner filter.
 */
export function topicFilterProblem(filter: string, limits: TopicLimits = DEFAULT_TOPIC_LIMITS): string | undefined {
  const common = commonProblem(filter, limits);
  if (common) return common;
  let inner = filter;
  if (filter.startsWith(SHARE_PREFIX)) {
    const shared = parseShared(filter);
    if (!shared) return 'is not a valid $share/<group>/<filter>'; // [MQTT-4.8.2-1], [MQTT-4.8.2-2]
    inner = shared.filter;
  }
  const levels = inner.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return "uses '#' other than as the whole last level";
    if (level.includes('+') && level !== '+') return "uses '+' other than as a whole level";
  }
  return undefined;
}

/** True when `filter` holds `+` or `#`. */
export function isWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

/** A `$share/<group>/<filter>` subscription, split. */
export interface SharedFilter {
  readonly group: string;
  readonly filter: string;
}

/** Splits a `$share/<group>/<filter>`; undefined when `filter` is not a valid shared filter. */
export function parseShared(filter: string): SharedFilter | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const rest = filter.slice(SHARE_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const group = rest.slice(0, slash);
  const inner = rest.slice(slash + 1);
  if (group.includes('+') || group.includes('#') || inner.length === 0) return undefined;
  return { group, filter: inner };
}

/**
 * True when topic name `name` matches `filter`. Wildcards at the first level
 * do not match names starting with `$` [MQTT-4.7.2-1].
 */
export function topicMatches(filter: string, name: string): boolean {
  return levelsMatch(filter.split('/'), name);
}

/**
 * `topicMatches` for a filter already cut at each `/` (a caller that checks
 * one filter often cuts it once). The name is walked in place, not split.
 */
export function levelsMatch(filter: readonly string[], name: string): boolean {
  const first = filter[0];
  if ((first === '+' || first === '#') && name.charCodeAt(0) === 0x24 /* $ */) return false;
  // Start of the name's current level; past name.length once every level is consumed.
  let at = 0;
  for (let i = 0; i < filter.length; i++) {
    const level = filter[i] as string;
    if (level === '#') return true; // [MQTT-4.7.1-2] also matches the parent level
    if (at > name.length) return false;
    let end = name.indexOf('/', at);
    if (end === -1) end = name.length;
    if (level !== '+' && (end - at !== level.length || !name.startsWith(level, at))) return false;
    at = end + 1;
  }
  return at > name.length;
}
