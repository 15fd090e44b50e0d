/**
 * The one decision layer every protocol calls: who is this client
 * (`authenticate`, once per connection, async) and may it do this
 * (`canPublish`, `canSubscribe`, `canProduce`, `canConsume`, per message or
 * subscription, synchronous and cached per session).
 */
import { randomBytes } from 'node:crypto';
import type { AclRuleConfig, AuthConfig } from '../config/types.js';
import { Acl, type AclAction, type BoundAcl } from './acl.js';
import { DecisionCache } from './decision-cache.js';
import { LoginGuard, type LoginLimits } from './login-guard.js';
import { hashPassword, verifyPassword } from './password.js';
import { UserDirectory, type AuthLogger, type ReloadOutcome } from './user-directory.js';
import type { UserEntry } from './users.js';

/** The protocol a client speaks, whatever its transport (TCP, TLS, WebSocket). */
export type AuthProtocol = 'mqtt' | 'stomp';

/** What a client presented when it connected. */
export interface Credentials {
  /** MQTT username, STOMP `login`; undefined or empty: none. */
  readonly username?: string | undefined;
  /** MQTT password (bytes), STOMP `passcode`. */
  readonly password?: string | Buffer | undefined;
  readonly clientId: string;
  readonly protocol: AuthProtocol;
  /** Common name of a verified client certificate (mutual TLS). */
  readonly certificateCn?: string | undefined;
  /** The client's IP address, for the back-off after repeated failed logins; unknown: no back-off. */
  readonly remoteAddress?: string | undefined;
}

/**
 * A client that passed `authenticate`: hand it back to every `can*` call for
 * that connection. Immutable; decisions about it are cached by the Authorizer.
 */
const NO_GROUPS: readonly string[] = Object.freeze([]);

export interface AuthSession {
  /** Undefined for an anonymous client. */
  readonly username: string | undefined;
  /** Groups from the users file when the client authenticated. Decisions use the current ones after a reload. */
  readonly groups: readonly string[];
  readonly clientId: string;
  readonly protocol: AuthProtocol;
  readonly anonymous: boolean;
  /** How the identity was established. */
  readonly method: 'password' | 'certificate' | 'anonymous';
}

/**
 * `bad-credentials`: unknown user, wrong or missing password (MQTT 3.1.1
 * return code 4, MQTT 5 0x86). `not-authorized`: no credentials and anonymous
 * clients are not allowed (MQTT 3.1.1 return code 5, MQTT 5 0x87). `busy`:
 * too many logins already wait for a password check (MQTT 5 0x89 Server
 * busy, 3.1.1 return code 3). `throttled`: this user name failed too often
 * from this address lately; the password was not checked (MQTT 5 0x9F
 * Connection rate exceeded, 3.1.1 return code 3).
 */
export type AuthFailure = 'bad-credentials' | 'not-authorized' | 'busy' | 'throttled';

export type AuthResult = { readonly ok: true; readonly user: AuthSession } | { readonly ok: false; readonly reason: AuthFailure };

/** The parts of `auth` that can change while the broker runs. */
export interface AuthPolicy {
  /** Let clients without credentials in. Default false. */
  readonly allowAnonymous?: boolean | undefined;
  /** Take the certificate CN as the user name, no password asked. Default false. */
  readonly useCertificateCnAsUsername?: boolean | undefined;
  /** Rules, first match wins; empty or absent: no ACL. */
  readonly acl?: readonly AclRuleConfig[] | undefined;
}

export interface AuthorizerOptions extends AuthPolicy {
  /** Who may log in; default: nobody. */
  readonly users?: UserDirectory | undefined;
  /** Close `users` with the Authorizer. Default false. */
  readonly ownsUsers?: boolean | undefined;
  /** Decisions cached per session and action, least recently used dropped first. Default 1,000. */
  readonly decisionCacheSize?: number | undefined;
  /** Bounds on password checks and the back-off after failed logins; defaults in `DEFAULT_LOGIN_LIMITS`. */
  readonly login?: Partial<LoginLimits> | undefined;
  /** Clock of the login back-off, ms. Default `performance.now`. */
  readonly now?: (() => number) | undefined;
  /** Where a back-off or a full password-check queue is reported. */
  readonly log?: AuthLogger | undefined;
}

const DEFAULT_DECISION_CACHE_SIZE = 1_000;

interface SessionState {
  usersGeneration: number;
  aclGeneration: number;
  acl: BoundAcl;
  /** The user was removed from the users file since it authenticated. */
  revoked: boolean;
  /** Cached answers, one map per action keyed by the topic, filter or queue as given: no key is built per message. */
  caches: { [A in AclAction]?: DecisionCache };
}

export class Authorizer {
  readonly #users: UserDirectory;
  readonly #ownsUsers: boolean;
  readonly #cacheSize: number;
  readonly #loginGuard: LoginGuard;
  readonly #states = new WeakMap<AuthSession, SessionState>();
  #allowAnonymous = false;
  #useCertificateCn = false;
  #acl: Acl = Acl.compile([]);
  #aclGeneration = 0;
  #dummyHash: Promise<string> | undefined;
  #closing: Promise<void> | undefined;

  /** @throws RoostError AUTH_ACL_INVALID for a rule the config schema would refuse. */
  constructor(options: AuthorizerOptions = {}) {
    this.#users = options.users ?? UserDirectory.of();
    this.#ownsUsers = options.ownsUsers ?? false;
    this.#cacheSize = options.decisionCacheSize ?? DEFAULT_DECISION_CACHE_SIZE;
    this.#loginGuard = new LoginGuard(options.login, { now: options.now, log: options.log });
    this.reconfigure(options);
  }

  /**
   * Replaces the anonymous policy and the ACL (a config reload). Cached
   * decisions of every session are dropped; open sessions are not
   * re-authenticated.
   * @throws RoostError AUTH_ACL_INVALID, leaving the current policy in place.
   */
  reconfigure(policy: AuthPolicy): void {
    const acl = policy.acl === undefined ? this.#acl : Acl.compile(policy.acl);
    this.#acl = acl;
    if (policy.allowAnonymous !== undefined) this.#allowAnonymous = policy.allowAnonymous;
    if (policy.useCertificateCnAsUsername !== undefined) this.#useCertificateCn = policy.useCertificateCnAsUsername;
    this.#aclGeneration++;
  }

  /** True when ACL rules are configured. */
  get aclConfigured(): boolean {
    return this.#acl.configured;
  }

  /** The users this Authorizer checks passwords against. */
  get users(): UserDirectory {
    return this.#users;
  }

  /**
   * Decides whether a connecting client is let in, and as whom.
   *
   * - With `useCertificateCnAsUsername` and a certificate CN: the CN is the
   *   user name and no password is checked (the TLS handshake verified the
   *   client); groups come from the users file when the CN is listed there.
   * - No user name and no password: anonymous, if allowed.
   * - Otherwise the password is checked against the users file. An unknown
   *   user costs a hash like a known one, so timing does not tell them apart.
   *   Checks run within the login limits: `busy` when too many wait already,
   *   `throttled` when this user name failed too often from this address.
   *
   * Never rejects.
   */
  async authenticate(credentials: Credentials): Promise<AuthResult> {
    const { clientId, protocol } = credentials;
    const cn = credentials.certificateCn;
    if (this.#useCertificateCn && cn !== undefined && cn !== '') {
      const groups = this.#users.get(cn)?.groups ?? [];
      return this.#accept({ username: cn, groups, clientId, protocol, anonymous: false, method: 'certificate' });
    }
    const username = credentials.username === '' ? undefined : credentials.username;
    const password = credentials.password;
    if (username === undefined) {
      // MQTT 5 allows a password without a user name; with no user to check it against it is wrong.
      if (password !== undefined && password.length > 0) return { ok: false, reason: 'bad-credentials' };
      if (!this.#allowAnonymous) return { ok: false, reason: 'not-authorized' };
      return this.#accept({ username: undefined, groups: [], clientId, protocol, anonymous: true, method: 'anonymous' });
    }
    if (password === undefined) return { ok: false, reason: 'bad-credentials' };
    const checked: { entry?: UserEntry | undefined } = {};
    const outcome = await this.#loginGuard.check(credentials.remoteAddress, username, async () => {
      // Looked up once the check has its slot: the users file may have been reloaded while it waited.
      const entry = (checked.entry = this.#users.get(username));
      const stored = entry?.passwordHash ?? (await this.#dummy());
      // The file may be reloaded again while scrypt runs: decide on the entry that was checked.
      return (await verifyPassword(password, stored)) && entry !== undefined;
    });
    const entry = checked.entry;
    if (outcome !== 'accepted' || entry === undefined) {
      return { ok: false, reason: outcome === 'busy' || outcome === 'throttled' ? outcome : 'bad-credentials' };
    }
    return this.#accept({ username, groups: entry.groups, clientId, protocol, anonymous: false, method: 'password' });
  }

  #accept(session: AuthSession): AuthResult {
    // Built as a literal, not a spread copy: a spread copy of these fields took about 350 bytes
    // per session against 80, and there is one session per connection.
    const { username, groups, clientId, protocol, anonymous, method } = session;
    const copied = groups.length === 0 ? NO_GROUPS : Object.freeze([...groups]);
    return { ok: true, user: Object.freeze({ username, groups: copied, clientId, protocol, anonymous, method }) };
  }

  #dummy(): Promise<string> {
    return (this.#dummyHash ??= hashPassword(randomBytes(16)));
  }

  /** May `session` publish to topic name `topic`? Never to `$SYS`. */
  canPublish(session: AuthSession, topic: string): boolean {
    return this.#decide(session, 'publish', topic);
  }

  /** May `session` subscribe to `filter` (wildcards and `$share/<group>/` allowed)? */
  canSubscribe(session: AuthSession, filter: string): boolean {
    return this.#decide(session, 'subscribe', filter);
  }

  /** May `session` send to queue `queue` (STOMP `/queue/<queue>`)? */
  canProduce(session: AuthSession, queue: string): boolean {
    return this.#decide(session, 'produce', queue);
  }

  /** May `session` consume from queue `queue`? */
  canConsume(session: AuthSession, queue: string): boolean {
    return this.#decide(session, 'consume', queue);
  }

  /**
   * True when the user of a password session was removed from the users file
   * after it authenticated: every check for it answers no, and the protocol
   * may disconnect it.
   */
  isRevoked(session: AuthSession): boolean {
    return this.#stateOf(session).revoked;
  }

  /** Reloads the users file (SIGHUP). Never rejects; see `UserDirectory.reload`. */
  reload(): Promise<ReloadOutcome> {
    return this.#users.reload();
  }

  #decide(session: AuthSession, action: AclAction, resource: string): boolean {
    const state = this.#stateOf(session);
    if (state.revoked) return false;
    const acl = state.acl;
    // Without an ACL the answer costs less than a cache lookup.
    if (!acl.configured) return acl.decide(action, resource);
    const cache = (state.caches[action] ??= new DecisionCache(this.#cacheSize));
    const cached = cache.get(resource);
    if (cached !== undefined) return cached;
    const answer = acl.decide(action, resource);
    cache.set(resource, answer);
    return answer;
  }

  #stateOf(session: AuthSession): SessionState {
    const usersGeneration = this.#users.generation;
    const aclGeneration = this.#aclGeneration;
    const state = this.#states.get(session);
    if (state && state.usersGeneration === usersGeneration && state.aclGeneration === aclGeneration) return state;

    let groups = session.groups;
    let revoked = false;
    if (session.method !== 'anonymous' && session.username !== undefined) {
      const entry = this.#users.get(session.username);
      groups = entry?.groups ?? [];
      revoked = session.method === 'password' && entry === undefined;
    }
    const acl = this.#acl.bind({ username: session.username, clientId: session.clientId, groups });
    if (state) {
      state.usersGeneration = usersGeneration;
      state.aclGeneration = aclGeneration;
      state.acl = acl;
      state.revoked = revoked;
      state.caches = {};
      return state;
    }
    const created: SessionState = { usersGeneration, aclGeneration, acl, revoked, caches: {} };
    this.#states.set(session, created);
    return created;
  }

  /** Closes the users directory when this Authorizer owns it. Idempotent. */
  close(): Promise<void> {
    return (this.#closing ??= this.#ownsUsers ? this.#users.close() : Promise.resolve());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export interface CreateAuthorizerOptions {
  readonly log?: AuthLogger | undefined;
  /** Reload the users file when it changes. Default true. */
  readonly watch?: boolean | undefined;
  readonly debounceMs?: number | undefined;
  readonly onReload?: ((outcome: ReloadOutcome) => void) | undefined;
}

/**
 * The Authorizer the broker runs with: `config.usersFile` loaded (relative
 * to the working directory) and watched, the ACL and anonymous policy applied.
 * `close()` stops the watcher.
 * @throws RoostError AUTH_USERS_UNREADABLE | AUTH_USERS_INVALID for the users file.
 */
export async function createAuthorizer(config: AuthConfig, options: CreateAuthorizerOptions = {}): Promise<Authorizer> {
  const users = config.usersFile === undefined ? UserDirectory.of() : await UserDirectory.open(config.usersFile, options);
  try {
    return new Authorizer({
      users,
      ownsUsers: true,
      allowAnonymous: config.allowAnonymous,
      useCertificateCnAsUsername: config.useCertificateCnAsUsername,
      acl: config.acl,
      login: {
        maxConcurrentPasswordChecks: config.maxConcurrentPasswordChecks,
        maxQueuedPasswordChecks: config.maxQueuedPasswordChecks,
        maxLoginFailures: config.maxLoginFailures,
        loginFailureWindowMs: config.loginFailureWindowMs,
        loginBackoffMs: config.loginBackoffMs,
      },
      log: options.log,
    });
  } catch (err) {
    await users.close();
    throw err;
  }
}
