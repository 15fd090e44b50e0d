/**
 * What `roost passwd` does to a users file: add or change a user, delete
 * one, list them. Each edit reads the file, changes one entry, and saves
 * atomically; the broker's watcher picks the change up.
 */
import { hashPassword } from './password.js';
import { parseUsers, readUsersText, removeUser, saveUsersFile, setUser, type ParsedUsers } from './users.js';

/**
 * Adds user `name` to `file` (created when missing) or changes its password.
 * `groups`, when given, replace the user's groups; otherwise they are kept.
 * @returns problems left in the file after the change (other users' entries), to warn about.
 * @throws RoostError AUTH_USERS_UNREADABLE | AUTH_USERS_INVALID (not YAML, no users mapping) | AUTH_USERS_UNWRITABLE.
 */
export async function addUser(file: string, name: string, password: string, groups?: readonly string[]): Promise<readonly string[]> {
  const text = await readUsersText(file, true);
  const hash = await hashPassword(password);
  const next = setUser(text, file, name, hash, groups);
  await saveUsersFile(file, next);
  return parseUsers(next, file).problems;
}

/**
 * Removes user `name` from `file`.
 * @returns false when there was no such user (the file is left alone).
 * @throws RoostError AUTH_USERS_UNREADABLE | AUTH_USERS_INVALID | AUTH_USERS_UNWRITABLE.
 */
export async function deleteUser(file: string, name: string): Promise<boolean> {
  const text = await readUsersText(file);
  const next = removeUser(text, file, name);
  if (next === undefined) return false;
  await saveUsersFile(file, next);
  return true;
}

/**
 * The users of `file` and its problems.
 * @throws RoostError AUTH_USERS_UNREADABLE.
 */
export async function listUsers(file: string): Promise<ParsedUsers> {
  return parseUsers(await readUsersText(file), file);
}
