/**
 * The access control list: which client may publish, subscribe, produce to a
 * queue and consume from one. Rules are checked in order and the first rule
 * that applies to the client and names the resource decides; when an ACL is
 * configured and no rule decides, the answer is no. Without an ACL
 * everything is allowed. Publishing to `$SYS` is refused either way.
 *
 * Patterns are cut into levels (topics) or pieces (queue globs) once, when
 * the ACL is compiled, and filled with `%u` and `%c` once per session
 * (`bind`): a decision splits no pattern. Decisions here are uncached and
 * pure; `Authorizer` caches them per session.
 */
import type { AclActionsConfig, AclRuleConfig } from '../config/types.js';
import { RoostError } from '../core/errors.js';
import { levelsMatch, parseShared, topicFilterProblem } from '../core/topic.js';
import { levelsCover, levelsOverlap } from './topic-cover.js';

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
type Piece = string | typeof USER | typeof CLIENT;
/** Text with its `%u` and `%c` cut out; a plain string when it has none. */
type Template = string | readonly Piece[];
/**
 * A pattern cut once, when the ACL is loaded, into the parts matching works
 * on: a topic pattern into its levels, a queue pattern into the literal
 * pieces between its `*`s. Placeholders never span a cut: a substituted
 * value holds no `/`, and a `*` in it is literal.
 */
type PatternTemplate = readonly Template[];

type ActionPatterns = { readonly [A in AclAction]?: readonly PatternTemplate[] };

interface CompiledRule {
  readonly allow: boolean;
  readonly users: ReadonlySet<string> | undefined;
  readonly groups: ReadonlySet<string> | undefined;
  readonly anonymous: boolean | undefined;
  readonly patterns: ActionPatterns;
}

/** One pattern of one rule, placeholders filled for one subject: levels of a topic pattern, pieces of a queue glob. */
interface BoundPattern {
  readonly allow: boolean;
  readonly parts: readonly string[];
}

function template(text: string): Template {
  if (!text.includes('%')) return text;
  const pieces = text
    .split(/(%u|%c)/)
    .filter((part) => part !== '')
    .map((part): Piece => (part === '%u' ? USER : part === '%c' ? CLIENT : part));
  return pieces.every((piece) => typeof piece === 'string') ? text : pieces;
}

/**
 * A value substituted into a pattern must stay one literal piece of one
 * level: a client id of `+` or `a/#` would otherwise widen `devices/%c/#`.
 */
function substitutable(value: string | undefined): value is string {
  return value !== undefined && value.length > 0 && !/[/+#]/.test(value);
}

function fill(parts: Template, subject: AclSubject): string | undefined {
  if (typeof parts === 'string') return parts;
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

/** The pattern's parts for `subject`; undefined when a placeholder cannot be filled (the pattern is skipped). */
function fillPattern(pattern: PatternTemplate, subject: AclSubject): string[] | undefined {
  const parts: string[] = [];
  for (const piece of pattern) {
    const filled = fill(piece, subject);
    if (filled === undefined) return undefined;
    parts.push(filled);
  }
  return parts;
}

function topicPatternProblem(pattern: string): string | undefined {
  if (pattern.startsWith('$share/')) return 'names a shared subscription; write the filter inside it';
  return topicFilterProblem(pattern.replaceAll('%u', 'u').replaceAll('%c', 'c'));
}

function isSys(topic: string): boolean {
  return topic.charCodeAt(0) === 0x24 && (topic === '$SYS' || topic.startsWith('$SYS/'));
}

/** Whether queue `name` matches a glob cut at its `*`s: `['DLQ.', '']` is `DLQ.*`. */
function globMatches(glob: readonly string[], name: string): boolean {
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
  const patterns: { [A in AclAction]?: PatternTemplate[] } = {};
  for (const action of ACL_ACTIONS) {
    const list = actions[action];
    if (list === undefined) continue;
    patterns[action] = list.map((pattern, i) => {
      if (action === 'publish' || action === 'subscribe') {
        const problem = topicPatternProblem(pattern);
        if (problem) invalid(`${effect}.${action}.${i}: ${JSON.stringify(pattern)} is not a topic filter: it ${problem}`);
        return pattern.split('/').map(template);
      }
      if (pattern.length === 0) invalid(`${effect}.${action}.${i}: a queue pattern is not empty`);
      return pattern.split('*').map(template);
    });
  }
  return {
    allow: rule.allow !== undefined,
    users: rule.users ? new Set(rule.users) : undefined,
    groups: rule.groups ? new Set(rule.groups) : undefined,
    anonymous: rule.anonymous,
    patterns,
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

/**
 * One action's patterns for `subject`, in rule order, from the rules that
 * apply to it: the first that matches decides, as the first rule naming
 * the resource would.
 */
function bindAction(rules: readonly CompiledRule[], action: AclAction, subject: AclSubject): BoundPattern[] {
  const bound: BoundPattern[] = [];
  for (const rule of rules) {
    for (const pattern of rule.patterns[action] ?? []) {
      const parts = fillPattern(pattern, subject);
      if (parts !== undefined) bound.push({ allow: rule.allow, parts });
    }
  }
  return bound;
}

const NONE: readonly BoundPattern[] = [];

/**
 * The ACL of one subject: only the patterns of rules that apply to it,
 * placeholders filled, cut into levels or glob pieces, one ordered list per
 * action. Build once per session (and again when the ACL or the user's
 * groups change); a decision then splits nothing but a subscription's filter.
 */
export class BoundAcl {
  /** False when no ACL is configured. */
  readonly configured: boolean;
  readonly #publish: readonly BoundPattern[];
  readonly #subscribe: readonly BoundPattern[];
  readonly #produce: readonly BoundPattern[];
  readonly #consume: readonly BoundPattern[];

  /** @param rules the rules that apply to `subject`; undefined: no ACL. */
  constructor(rules: readonly CompiledRule[] | undefined, subject: AclSubject) {
    this.configured = rules !== undefined;
    this.#publish = rules ? bindAction(rules, 'publish', subject) : NONE;
    this.#subscribe = rules ? bindAction(rules, 'subscribe', subject) : NONE;
    this.#produce = rules ? bindAction(rules, 'produce', subject) : NONE;
    this.#consume = rules ? bindAction(rules, 'consume', subject) : NONE;
  }

  /** May the subject publish to topic name `topic`? Never to `$SYS`. */
  publish(topic: string): boolean {
    if (isSys(topic)) return false;
    if (!this.configured) return true;
    for (const pattern of this.#publish) {
      if (levelsMatch(pattern.parts, topic)) return pattern.allow;
    }
    return false;
  }

  /**
   * May the subject subscribe to `filter` (possibly `$share/<group>/<filter>`)?
   * Allowed by an allow pattern that covers the whole filter, denied by a
   * deny pattern that overlaps it at all: `secrets/#` denied refuses a
   * subscription to `#`, which would receive secrets.
   */
  subscribe(filter: string): boolean {
    if (!this.configured) return true;
    let target = filter;
    if (filter.startsWith('$share/')) {
      const shared = parseShared(filter);
      if (!shared) return false;
      target = shared.filter;
    }
    const levels = target.split('/');
    for (const pattern of this.#subscribe) {
      if (pattern.allow ? levelsCover(pattern.parts, levels) : levelsOverlap(pattern.parts, levels)) return pattern.allow;
    }
    return false;
  }

  /** May the subject send to queue `queue`? */
  produce(queue: string): boolean {
    return this.configured ? firstGlob(this.#produce, queue) : true;
  }

  /** May the subject consume from queue `queue`? */
  consume(queue: string): boolean {
    return this.configured ? firstGlob(this.#consume, queue) : true;
  }

  /**
   * Whether the subject may do `action` on `resource`: a topic name for
   * publish, a topic filter for subscribe, a queue name for produce and
   * consume.
   */
  decide(action: AclAction, resource: string): boolean {
    switch (action) {
      case 'publish':
        return this.publish(resource);
      case 'subscribe':
        return this.subscribe(resource);
      case 'produce':
        return this.produce(resource);
      case 'consume':
        return this.consume(resource);
    }
  }
}

function firstGlob(patterns: readonly BoundPattern[], name: string): boolean {
  for (const pattern of patterns) {
    if (globMatches(pattern.parts, name)) return pattern.allow;
  }
  return false;
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
    return new BoundAcl(this.#rules?.filter((rule) => appliesTo(rule, subject)), subject);
  }

  /** One uncached decision; see `BoundAcl.decide`. */
  decide(subject: AclSubject, action: AclAction, resource: string): boolean {
    return this.bind(subject).decide(action, resource);
  }
}
