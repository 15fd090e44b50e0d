/**
 * The STOMP frame as the codec hands it over, and the few rules about it that
 * are independent of bytes: which version a CONNECT negotiates, which value a
 * repeated header carries.
 */

export type StompVersion = '1.0' | '1.1' | '1.2';

/** Every version Roost speaks, oldest first. */
export const STOMP_VERSIONS: readonly StompVersion[] = Object.freeze(['1.0', '1.1', '1.2'] as const);

export interface StompFrame {
  readonly command: string;
  /** Unescaped names and values in wire order; a repeated name keeps every pair. */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** Bytes between the blank line and the terminating NUL, never re-encoded. */
  readonly body: Buffer;
}

/** One event completed by the bytes pushed into a decoder. */
export type Decoded = { readonly kind: 'frame'; readonly frame: StompFrame } | { readonly kind: 'heartbeat' };

/**
 * The value of the first `name` header, or undefined when the frame has none.
 * Names are case-sensitive.
 */
export function header(frame: StompFrame, name: string): string | undefined {
  // STOMP 1.2 "Repeated Header Entries": only the first header entry SHOULD be used.
  for (const [n, v] of frame.headers) if (n === name) return v;
  return undefined;
}

/**
 * The version a CONNECT (or STOMP) frame negotiates: the highest version in its
 * `accept-version` header that `supported` also holds, or undefined when they
 * share none. A missing header means 1.0 (STOMP 1.2 "Protocol Negotiation").
 * List entries are trimmed and unknown entries (`2.0`) ignored.
 */
export function negotiateVersion(
  acceptVersion: string | undefined,
  supported: readonly StompVersion[] = STOMP_VERSIONS,
): StompVersion | undefined {
  const offered = acceptVersion === undefined ? ['1.0'] : acceptVersion.split(',').map((v) => v.trim());
  let best: StompVersion | undefined;
  for (const version of STOMP_VERSIONS) {
    if (offered.includes(version) && supported.includes(version)) best = version;
  }
  return best;
}
