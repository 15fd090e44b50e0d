/**
 * The users file: who may log in, with which password hash, in which groups.
 *
 *   users:
 *     alice:
 *       password: scrypt$16384$8$1$<salt>$<hash>
 *       groups: [operators, sensors]
 *
 * Parsing is pure and reports one line per problem, naming the file, the line
 * and the user. Edits keep the rest of the file (comments, order, other
 * users) as it was, and a save replaces the file atomically with mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Document, Node as YamlNode, YAMLMap } from 'yaml';
import { yamlLib } from '../config/yaml-lib.js';
import { RoostError } from '../core/errors.js';
import { passwordHashProblem } from './password.js';

/** One user as the broker needs it. */
export interface UserEntry {
  readonly name: string;
  /** `scrypt$N$r$p$salt$hash`, already checked by `passwordHashProblem`. */
  readonly passwordHash: string;
  /** Group names, without duplicates, in file order. */
  readonly groups: readonly string[];
}

/** What a users file holds. */
export interface ParsedUsers {
  /** The users without a problem, by name. */
  readonly users: ReadonlyMap<string, UserEntry>;
  /** One line per problem: `file:line: user "name": what is wrong`. Empty when the file is usable. */
  readonly problems: readonly string[];
}

const USER_KEYS = ['password', 'groups'] as const;
const MAX_NAME_LENGTH = 256;
// C0 controls and DEL would only confuse logs, and cannot be typed at a prompt.
const CONTROL = /[\u0000-\u001f\u007f]/;

const HEADER =
  ' Roost users. "roost passwd add|delete|list FILE USER" manages passwords;\n' +
  ' groups (for auth.acl rules) may be edited here: groups: [name, ...].';

/**
 * Why `name` cannot be a user name, or undefined when it can. `/`, `+` and
 * `#` are refused because a name is substituted for `%u` in ACL topic
 * patterns, where they would widen the pattern.
 */
export function usernameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > MAX_NAME_LENGTH) return `is longer than ${MAX_NAME_LENGTH} characters`;
  if (CONTROL.test(name)) return 'contains a control character';
  if (/[/+#]/.test(name)) return "contains '/', '+' or '#'";
  if (name.trim() !== name) return 'starts or ends with white space';
  return undefined;
}

/** Why `group` cannot be a group name, or undefined when it can. */
export function groupNameProblem(group: unknown): string | undefined {
  if (typeof group !== 'string' || group.length === 0) return 'groups must be a list of non-empty names';
  if (CONTROL.test(group)) return `group ${JSON.stringify(group)} contains a control character`;
  return undefined;
}

function keyName(node: unknown): string | undefined {
  const { isScalar } = yamlLib();
  return isScalar(node) && node.value !== null && typeof node.value !== 'object' ? String(node.value) : undefined;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
}

/**
 * Parses and validates users-file `text`; `file` is only used in messages.
 * Never throws: a YAML syntax error is a problem like any other.
 */
export function parseUsers(text: string, file: string): ParsedUsers {
  const { isMap, isScalar, isSeq, LineCounter, parseDocument } = yamlLib();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const users = new Map<string, UserEntry>();
  const problems: string[] = [];
  if (doc.errors.length > 0) {
    for (const error of doc.errors) {
      const where = error.linePos?.[0];
      const first = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      problems.push(where ? `${file}:${where.line}:${where.col}: ${first}` : `${file}: ${first}`);
    }
    return { users, problems };
  }
  const at = (node: unknown): string => {
    const offset = (node as YamlNode | undefined)?.range?.[0];
    return offset === undefined ? file : `${file}:${lineCounter.linePos(offset).line}`;
  };

  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return { users, problems };
  if (!isMap(root)) {
    problems.push(`${file}: expected a mapping with a "users" key, got ${describe(doc.toJS())}`);
    return { users, problems };
  }
  let list: unknown;
  for (const pair of root.items) {
    const name = keyName(pair.key);
    if (name === 'users') list = pair.value;
    else problems.push(`${at(pair.key)}: unknown key ${JSON.stringify(name ?? String(pair.key))} (the file holds one key, users)`);
  }
  if (list === undefined || list === null || (isScalar(list) && list.value === null)) return { users, problems };
  if (!isMap(list)) {
    problems.push(`${at(list)}: users: expected a mapping of user name to password and groups`);
    return { users, problems };
  }

  for (const pair of list.items) {
    const name = keyName(pair.key);
    const where = at(pair.key);
    if (name === undefined) {
      problems.push(`${where}: a user name must be a plain string`);
      continue;
    }
    const prefix = `${where}: user ${JSON.stringify(name)}:`;
    const before = problems.length;
    const nameIssue = usernameProblem(name);
    if (nameIssue) problems.push(`${prefix} the name ${nameIssue}`);
    const entry = pair.value;
    if (!isMap(entry)) {
      problems.push(`${prefix} expected a mapping with password and groups, got ${describe((entry as YamlNode | null)?.toJSON?.() ?? null)}`);
      continue;
    }
    let passwordHash: string | undefined;
    let groups: string[] = [];
    for (const field of entry.items) {
      const key = keyName(field.key);
      const value: unknown = isScalar(field.value) || isSeq(field.value) || isMap(field.value) ? field.value.toJSON() : null;
      if (key === 'password') {
        if (typeof value !== 'string') {
          problems.push(`${prefix} password must be a scrypt hash string, got ${describe(value)}`);
          continue;
        }
        const hashIssue = passwordHashProblem(value);
        if (hashIssue) problems.push(`${prefix} password is not a usable hash: ${hashIssue}`);
        else passwordHash = value;
      } else if (key === 'groups') {
        if (value === null) continue;
        if (!Array.isArray(value)) {
          problems.push(`${prefix} groups must be a list of names, got ${describe(value)}`);
          continue;
        }
        const issue = value.map(groupNameProblem).find((p) => p !== undefined);
        if (issue) problems.push(`${prefix} ${issue}`);
        else groups = [...new Set(value as string[])];
      } else {
        problems.push(`${prefix} unknown key ${JSON.stringify(key ?? '?')} (expected ${USER_KEYS.join(' or ')})`);
      }
    }
    if (passwordHash === undefined && !entry.items.some((field) => keyName(field.key) === 'password')) {
      problems.push(`${prefix} no password (set one with roost passwd add)`);
    }
    if (problems.length === before && passwordHash !== undefined) {
      users.set(name, Object.freeze({ name, passwordHash, groups: Object.freeze(groups) }));
    }
  }
  return { users, problems };
}

/** Node's `ENOENT: no such file or directory, open 'x'` without the path, which the caller prints. */
function describeFsError(err: unknown): string {
  return err instanceof Error ? err.message.replace(/, \w+(?: '.*')?$/, '') : String(err);
}

/**
 * Reads `file` as text.
 * @param missingOk resolve `''` instead of failing when the file does not exist (a first `passwd add`).
 * @throws RoostError AUTH_USERS_UNREADABLE naming the file and the reason.
 */
export async function readUsersText(file: string, missingOk = false): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (missingOk && (err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    const reason = describeFsError(err);
    throw new RoostError('AUTH_USERS_UNREADABLE', `cannot read users file ${file}: ${reason}`, { cause: err });
  }
}

/**
 * Reads and validates `file`.
 * @throws RoostError AUTH_USERS_UNREADABLE when it cannot be read.
 * @throws RoostError AUTH_USERS_INVALID listing every problem, one per line.
 */
export async function loadUsers(file: string): Promise<{ readonly users: ReadonlyMap<string, UserEntry>; readonly text: string }> {
  const text = await readUsersText(file);
  const parsed = parseUsers(text, file);
  if (parsed.problems.length > 0) throw new RoostError('AUTH_USERS_INVALID', parsed.problems.join('\n'));
  return { users: parsed.users, text };
}

/** The document to edit, and its `users` mapping (created when absent). */
function editable(text: string, file: string): { doc: Document; users: YAMLMap } {
  const { isMap, isScalar, parseDocument, Document } = yamlLib();
  if (text.trim() === '') {
    const doc = new Document({ users: {} });
    doc.commentBefore = HEADER;
    return { doc, users: doc.get('users', true) as YAMLMap };
  }
  const doc: Document = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new RoostError('AUTH_USERS_INVALID', `${file}: not valid YAML: ${(doc.errors[0]?.message ?? '').split('\n')[0]}`);
  }
  const root = doc.contents;
  if (!isMap(root)) throw new RoostError('AUTH_USERS_INVALID', `${file}: expected a mapping with a "users" key`);
  const pair = root.items.find((item) => keyName(item.key) === 'users');
  if (pair && isMap(pair.value)) return { doc, users: pair.value };
  if (pair && pair.value !== null && !(isScalar(pair.value) && pair.value.value === null)) {
    throw new RoostError('AUTH_USERS_INVALID', `${file}: users: expected a mapping of user name to password and groups`);
  }
  const users = doc.createNode({}) as YAMLMap;
  if (pair) pair.value = users;
  else root.set('users', users);
  return { doc, users };
}

/**
 * `text` with `name`'s password set to `passwordHash` (the user is added when
 * absent). `groups`, when given, replace the user's groups; otherwise they
 * are kept. Comments and every other entry are left as they were.
 * @throws RoostError AUTH_USERS_INVALID when `text` is not YAML with a `users` mapping.
 */
export function setUser(text: string, file: string, name: string, passwordHash: string, groups?: readonly string[]): string {
  const { isMap } = yamlLib();
  const { doc, users } = editable(text, file);
  const pair = users.items.find((item) => keyName(item.key) === name);
  const groupsNode = groups === undefined ? undefined : doc.createNode([...groups], { flow: true });
  if (pair && isMap(pair.value)) {
    pair.value.set('password', passwordHash);
    if (groupsNode) {
      if (groups?.length) pair.value.set('groups', groupsNode);
      else pair.value.delete('groups');
    }
  } else {
    const entry = doc.createNode({ password: passwordHash }) as YAMLMap;
    if (groupsNode && groups?.length) entry.set('groups', groupsNode);
    if (pair) pair.value = entry;
    else users.set(name, entry);
  }
  return doc.toString();
}

/**
 * `text` without user `name`, or undefined when there is no such user.
 * @throws RoostError AUTH_USERS_INVALID when `text` is not YAML with a `users` mapping.
 */
export function removeUser(text: string, file: string, name: string): string | undefined {
  const { doc, users } = editable(text, file);
  const index = users.items.findIndex((item) => keyName(item.key) === name);
  if (index === -1) return undefined;
  users.items.splice(index, 1);
  return doc.toString();
}

/**
 * Replaces `file` with `text` atomically: written and synced to a temporary
 * file in the same directory, mode 0600, then renamed over it. A reader (or
 * the broker's watcher) sees the old file or the new one, never half of one.
 * @throws RoostError AUTH_USERS_UNWRITABLE naming the file and the reason.
 */
export async function saveUsersFile(file: string, text: string): Promise<void> {
  // Hidden and suffixed so the broker's watcher, which looks for `file` only, ignores it.
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    const reason = describeFsError(err);
    throw new RoostError('AUTH_USERS_UNWRITABLE', `cannot write users file ${file}: ${reason}`, { cause: err });
  }
}
