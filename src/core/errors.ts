/**
 * Stable error codes. Each protocol maps a code to its own wire answer
 * (MQTT reason code, STOMP ERROR frame, WebSocket close code); anything that
 * is not a RoostError is a bug and is answered with a generic internal error.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_UNREADABLE'
  | 'LISTEN_ADDRESS_IN_USE'
  | 'LISTEN_FAILED'
  | 'STORE_LOCKED'
  | 'STORE_CORRUPT'
  | 'STORE_UNWRITABLE'
  | 'STORE_VERSION_UNSUPPORTED'
  | 'STORE_CLOSED'
  | 'STORE_NOT_FOUND'
  | 'TOPIC_INVALID'
  | 'FILTER_INVALID'
  | 'QUEUE_FULL'
  | 'STOMP_FRAME_MALFORMED'
  | 'STOMP_LIMIT_EXCEEDED'
  | 'STOMP_PROTOCOL_VIOLATION'
  | 'STOMP_FRAME_UNENCODABLE'
  | 'STOMP_DESTINATION_INVALID'
  | 'STOMP_HEADER_INVALID'
  | 'STOMP_AUTH_FAILED'
  | 'STOMP_ACCESS_DENIED'
  | 'STOMP_HEARTBEAT_TIMEOUT'
  | 'AUTH_USERS_UNREADABLE'
  | 'AUTH_USERS_INVALID'
  | 'AUTH_USERS_UNWRITABLE'
  | 'AUTH_ACL_INVALID'
  | 'TLS_FILE_UNREADABLE'
  | 'TLS_INVALID'
  | 'INTERNAL';

export class RoostError extends Error {
  override readonly name = 'RoostError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** True when `err` is a RoostError carrying `code`. */
export function hasCode(err: unknown, code: ErrorCode): err is RoostError {
  return err instanceof RoostError && err.code === code;
}
