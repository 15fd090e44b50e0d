/**
 * The wording of configuration problems. Every line starts with the key (or
 * variable) at fault, then says what would be accepted.
 */
import { CONFIG_KEYS, CONFIG_SECTIONS } from './keys.js';
import type { RenamedKey } from './renamed.js';
import { suggestKey } from './suggest.js';

/** A value as the user wrote it: strings quoted, structures named. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  }
  return String(value);
}

/** `oldName: renamed to new.path; use replacementName instead` (names differ between file keys and env variables). */
export function renamedMessage(oldName: string, renamed: RenamedKey, replacementName: string): string {
  const note = renamed.note ? ` (${renamed.note})` : '';
  return `${oldName}: renamed to ${renamed.replacedBy}${note}; use ${replacementName} instead`;
}

// Keys inside list entries are not in CONFIG_KEYS; an ACL rule is the one entry shape worth suggesting for.
const ACL_RULE_KEYS = ['allow', 'deny', 'users', 'groups', 'anonymous'];
const ACL_ACTION_KEYS = ['publish', 'subscribe', 'produce', 'consume'];

function aclUnknownKeyMessage(path: string): string | undefined {
  const match = /^(auth\.acl\.\d+)(\.(?:allow|deny))?\.[^.]+$/.exec(path);
  if (!match) return undefined;
  const parent = `${match[1]}${match[2] ?? ''}`;
  const names = match[2] ? ACL_ACTION_KEYS : ACL_RULE_KEYS;
  const suggestion = suggestKey(path, names.map((name) => `${parent}.${name}`));
  return suggestion
    ? `${path}: unknown key (did you mean ${suggestion}?)`
    : `${path}: unknown key (expected ${names.slice(0, -1).join(', ')} or ${names.at(-1)})`;
}

export function unknownKeyMessage(path: string): string {
  const acl = aclUnknownKeyMessage(path);
  if (acl) return acl;
  const known = [...CONFIG_KEYS.map((key) => key.path), ...CONFIG_SECTIONS];
  // `port` at the top level means one of the listeners' ports: name them all.
  const name = path.split('.').at(-1);
  const sameName = known.filter((key) => key !== path && key.split('.').at(-1) === name);
  const suggestion = sameName.length > 0 ? sameName.join(' or ') : suggestKey(path, known);
  return suggestion
    ? `${path}: unknown key (did you mean ${suggestion}?)`
    : `${path}: unknown key (config/roost.yaml lists every key)`;
}

/** For a section given a scalar or a list: name what it should contain. */
export function sectionMessage(path: string, value: unknown): string {
  const children = CONFIG_KEYS.filter((key) => key.path.startsWith(`${path}.`)).map((key) => key.segments.at(-1));
  return `${path}: expected a mapping of ${children.join(', ')}, got ${show(value)}`;
}
