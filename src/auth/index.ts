/**
 * Authentication and authorization for every protocol: users file, password
 * hashes, the ACL, and the `Authorizer` that protocols call.
 */
export { Acl, ACL_ACTIONS, BoundAcl, type AclAction, type AclSubject } from './acl.js';
export {
  Authorizer,
  createAuthorizer,
  type AuthFailure,
  type AuthPolicy,
  type AuthProtocol,
  type AuthResult,
  type AuthSession,
  type AuthorizerOptions,
  type CreateAuthorizerOptions,
  type Credentials,
} from './authorizer.js';
export { DEFAULT_LOGIN_LIMITS, LoginGuard, type GuardedCheck, type LoginLimits } from './login-guard.js';
export { DEFAULT_SCRYPT_PARAMS, hashPassword, passwordHashProblem, verifyPassword, type ScryptParams } from './password.js';
export { UserDirectory, type AuthLogger, type ReloadOutcome, type UserDirectoryOptions } from './user-directory.js';
export { loadUsers, parseUsers, usernameProblem, type ParsedUsers, type UserEntry } from './users.js';
