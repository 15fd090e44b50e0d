import type { AuthSession, Authorizer } from '../../src/auth/index.js';
import { RoostError } from '../../src/core/errors.js';
import type { StompAccess, StompAuthenticate } from './session.js';

/**
 * The STOMP face of the shared Authorizer: CONNECT's login/passcode (or a
 * verified client certificate) become a session, and every SEND and
 * SUBSCRIBE is checked against what that session may do.
 */
export function stompAuthenticate(authorizer: Authorizer): StompAuthenticate {
  return async (login, passcode, { clientId, peer }) => {
    const result = await authorizer.authenticate({
      username: login,
      password: passcode,
      // `%c` in ACL patterns is the STOMP client-id header; without one, nothing is substituted.
      clientId: clientId ?? '',
      protocol: 'stomp',
      ...(peer.certificateCn === undefined ? {} : { certificateCn: peer.certificateCn }),
      ...(peer.remoteAddress === undefined ? {} : { remoteAddress: peer.remoteAddress }),
    });
    if (result.ok) return accessOf(authorizer, result.user);
    // The ERROR's body says why, so a client knows to come back later rather than fix its passcode.
    if (result.reason === 'busy') {
      throw new RoostError('STOMP_AUTH_FAILED', 'server busy: too many logins are waiting for a password check; try again later');
    }
    if (result.reason === 'throttled') {
      throw new RoostError('STOMP_AUTH_FAILED', 'too many failed logins for this login from this address; try again later');
    }
    return false;
  };
}

function accessOf(authorizer: Authorizer, session: AuthSession): StompAccess {
  return {
    canPublish: (topic) => authorizer.canPublish(session, topic),
    canSubscribe: (filter) => authorizer.canSubscribe(session, filter),
    canProduce: (queue) => authorizer.canProduce(session, queue),
    canConsume: (queue) => authorizer.canConsume(session, queue),
  };
}
