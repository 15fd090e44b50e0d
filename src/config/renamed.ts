/**
 * Keys that existed in an earlier release and what replaced them. A config
 * that still uses one fails with a line naming the replacement, instead of
 * a bare "unknown key". Entries stay for at least one major version.
 */

export interface RenamedKey {
  /** Dotted path of the key that replaced it, e.g. `mqtt.receiveMaximum`. */
  readonly replacedBy: string;
  /** What else changed, when the value does not carry over as is. */
  readonly note?: string;
}

/** Old dotted path → replacement. */
export const RENAMED_KEYS: ReadonlyMap<string, RenamedKey> = new Map<string, RenamedKey>([
  // 0.1: anonymous access joined the users file and the ACL in one auth section.
  ['allowAnonymous', { replacedBy: 'auth.allowAnonymous' }],
]);
