import type { AuthSession, Authorizer } from '../../src/auth/index.js';
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
    });
    return result.ok ? accessOf(authorizer, result.user) : false;
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
