/**
 * The access control list: which client may publish, subscribe, produce to a
 * queue and consume from one. Rules are checked in order and the first rule
 * that applies to the client and names the resource decides; when an ACL is
 * configured and no rule decides, the answer is no. Without an ACL
 * everything is allowed. Publishing to `$SYS` is refused either way.
 *
 * Decisions here are uncached and pure; `Authorizer` caches them per session.
 */
import type { AclActionsConfig, AclRuleConfig } from '../config/types.js';
import { RoostError } from '../core/errors.js';
import { parseShared, topicFilterProblem, topicMatches } from '../core/topic.js';
import { filterCovers, filtersOverlap } from './topic-cover.js';

/** What a client asks to do: publish to a topic, subscribe to a filter, send to or consume from a queue. */
export type AclAction = 'publish' | 'subscribe' | 'produce' | 'consume';

/** Every action, in the order rules list them. */
export const ACL_ACTIONS: readonly AclAction[] = ['publish', 'subscribe', 'produce', 'consume'];

/** Who is asking: what rules select on and what `%u` and `%c` stand for. */
export interface AclSubject {
  /** Undefined for an anonymous client. */
  readonly username: string | undefined;
  readonly clientId: string;
  readonly groups: readonly string[];
}

const USER = 0;
const CLIENT = 1;
/** A pattern cut at its `%u` and `%c`: literal text and placeholders. */
type Template = readonly (string | typeof USER | typeof CLIENT)[];

interface CompiledRule {
  readonly allow: boolean;
  readonly users: ReadonlySet<string> | undefined;
  readonly groups: ReadonlySet<string> | undefined;
  readonly anonymous: boolean | undefined;
  readonly topics: { readonly publish?: readonly Template[]; readonly subscribe?: readonly Template[] };
  /** Queue patterns cut at each `*`; each piece a template. */
  readonly queues: { readonly produce?: readonly (readonly Template[])[]; readonly consume?: readonly (readonly Template[])[] };
}

/** A queue pattern with its placeholders filled: literal pieces between `*`s. */
type Glob = readonly string[];

/** A rule as it applies to one subject: placeholders filled, unusable patterns dropped. */
interface BoundRule {
  readonly allow: boolean;
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  readonly produce: readonly Glob[];
  readonly consume: readonly Glob[];
}

function template(pattern: string): Template {
  return pattern
    .split(/(%u|%c)/)
    .filter((part) => part !== '')
    .map((part) => (part === '%u' ? USER : part === '%c' ? CLIENT : part));
}

/**
 * A value substituted into a pattern must stay one literal piece of one
 * level: a client id of `+` or `a/#` would otherwise widen `devices/%c/#`.
 */
function substitutable(value: string | undefined): value is string {
  return value !== undefined && value.length > 0 && !/[/+#]/.test(value);
}

function fill(parts: Template, subject: AclSubject): string | undefined {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const value = part === USER ? subject.username : subject.clientId;
    if (!substitutable(value)) return undefined;
    out += value;
  }
  return out;
}

function topicPatternProblem(pattern: string): string | undefined {
  if (pattern.startsWith('$share/')) return 'names a shared subscription; write the filter inside it';
  return topicFilterProblem(pattern.replaceAll('%u', 'u').replaceAll('%c', 'c'));
}

function isSys(topic: string): boolean {
  return topic === '$SYS' || topic.startsWith('$SYS/');
}

function globMatches(glob: Glob, name: string): boolean {
  if (glob.length === 1) return glob[0] === name;
  const first = glob[0] as string;
  const last = glob[glob.length - 1] as string;
  if (name.length < first.length + last.length || !name.startsWith(first) || !name.endsWith(last)) return false;
  let at = first.length;
  const end = name.length - last.length;
  for (let i = 1; i < glob.length - 1; i++) {
    const piece = glob[i] as string;
    const found = name.indexOf(piece, at);
    if (found === -1 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

function compileRule(rule: AclRuleConfig, index: number): CompiledRule {
  const where = `auth.acl.${index}`;
  const invalid = (message: string): never => {
    throw new RoostError('AUTH_ACL_INVALID', `${where}: ${message}`);
  };
  if ((rule.allow === undefined) === (rule.deny === undefined)) invalid('a rule has exactly one of allow and deny');
  const effect = rule.allow ? 'allow' : 'deny';
  const actions = (rule.allow ?? rule.deny) as AclActionsConfig;
  if (rule.anonymous === true && (rule.users !== undefined || rule.groups !== undefined)) {
    invalid('anonymous: true cannot be combined with users or groups');
  }
  const topics = (action: 'publish' | 'subscribe'): readonly Template[] | undefined =>
    actions[action]?.map((pattern, i) => {
      const problem = topicPatternProblem(pattern);
      if (problem) invalid(`${effect}.${action}.${i}: ${JSON.stringify(pattern)} is not a topic filter: it ${problem}`);
      return template(pattern);
    });
  const queues = (action: 'produce' | 'consume'): readonly (readonly Template[])[] | undefined =>
    actions[action]?.map((pattern, i) => {
      if (pattern.length === 0) invalid(`${effect}.${action}.${i}: a queue pattern is not empty`);
      return pattern.split('*').map(template);
    });
  const publish = topics('publish');
  const subscribe = topics('subscribe');
  const produce = queues('produce');
  const consume = queues('consume');
  return {
    allow: rule.allow !== undefined,
    users: rule.users ? new Set(rule.users) : undefined,
    groups: rule.groups ? new Set(rule.groups) : undefined,
    anonymous: rule.anonymous,
    topics: { ...(publish && { publish }), ...(subscribe && { subscribe }) },
    queues: { ...(produce && { produce }), ...(consume && { consume }) },
  };
}

function appliesTo(rule: CompiledRule, subject: AclSubject): boolean {
  const anonymous = subject.username === undefined;
  if (rule.anonymous !== undefined && rule.anonymous !== anonymous) return false;
  if (rule.users === undefined && rule.groups === undefined) return true;
  if (rule.users && subject.username !== undefined && rule.users.has(subject.username)) return true;
  const groups = rule.groups;
  return groups !== undefined && subject.groups.some((group) => groups.has(group));
}

function defined<T>(value: T | undefined): value is T {
  return value !== undefined;
}

function bindRule(rule: CompiledRule, subject: AclSubject): BoundRule {
  const topics = (list: readonly Template[] | undefined): string[] => (list ?? []).map((t) => fill(t, subject)).filter(defined);
  const globs = (list: readonly (readonly Template[])[] | undefined): Glob[] =>
    (list ?? [])
      .map((pieces) => {
        const filled = pieces.map((t) => fill(t, subject));
        return filled.every(defined) ? filled : undefined;
      })
      .filter(defined);
  return {
    allow: rule.allow,
    publish: topics(rule.topics.publish),
    subscribe: topics(rule.topics.subscribe),
    produce: globs(rule.queues.produce),
    consume: globs(rule.queues.consume),
  };
}

/**
 * The ACL of one subject: the rules that apply to it, placeholders filled.
 * Build once per session (and again when the ACL or the user's groups change).
 */
export class BoundAcl {
  /** Undefined when no ACL is configured. */
  readonly #rules: readonly BoundRule[] | undefined;

  constructor(rules: readonly BoundRule[] | undefined) {
    this.#rules = rules;
  }

  /**
   * Whether the subject may do `action` on `resource`: a topic name for
   * publish, a topic filter (possibly `$share/<group>/<filter>`) for
   * subscribe, a queue name for produce and consume.
   *
   * A subscribe is allowed by an allow pattern that covers the whole filter,
   * and denied by a deny pattern that overlaps it at all: `secrets/#` denied
   * refuses a subscription to `#`, which would receive secrets.
   */
  decide(action: AclAction, resource: string): boolean {
    if (action === 'publish' && isSys(resource)) return false;
    const rules = this.#rules;
    if (rules === undefined) return true;
    let target = resource;
    if (action === 'subscribe' && resource.startsWith('$share/')) {
      const shared = parseShared(resource);
      if (!shared) return false;
      target = shared.filter;
    }
    for (const rule of rules) {
      if (ruleNames(rule, action, target)) return rule.allow;
    }
    return false;
  }
}

function ruleNames(rule: BoundRule, action: AclAction, target: string): boolean {
  switch (action) {
    case 'publish':
      return rule.publish.some((pattern) => topicMatches(pattern, target));
    case 'subscribe':
      return rule.allow
        ? rule.subscribe.some((pattern) => filterCovers(pattern, target))
        : rule.subscribe.some((pattern) => filtersOverlap(pattern, target));
    case 'produce':
      return rule.produce.some((glob) => globMatches(glob, target));
    case 'consume':
      return rule.consume.some((glob) => globMatches(glob, target));
  }
}

/** A compiled ACL; immutable. */
export class Acl {
  /** Undefined when no ACL is configured: everything is allowed but publishing to `$SYS`. */
  readonly #rules: readonly CompiledRule[] | undefined;

  private constructor(rules: readonly CompiledRule[] | undefined) {
    this.#rules = rules;
  }

  /**
   * Compiles rules as written under `auth.acl`. An empty list means no ACL.
   * @throws RoostError AUTH_ACL_INVALID naming the rule (`auth.acl.2: …`) for
   *   a rule the config schema would have refused.
   */
  static compile(rules: readonly AclRuleConfig[]): Acl {
    return new Acl(rules.length === 0 ? undefined : rules.map(compileRule));
  }

  /** True when rules are configured, so that what they do not allow is denied. */
  get configured(): boolean {
    return this.#rules !== undefined;
  }

  /** The rules that apply to `subject`, ready for `decide`. */
  bind(subject: AclSubject): BoundAcl {
    if (this.#rules === undefined) return new BoundAcl(undefined);
    return new BoundAcl(this.#rules.filter((rule) => appliesTo(rule, subject)).map((rule) => bindRule(rule, subject)));
  }

  /** One uncached decision; see `BoundAcl.decide`. */
  decide(subject: AclSubject, action: AclAction, resource: string): boolean {
    return this.bind(subject).decide(action, resource);
  }
}
