/**
 * Header name and value escaping, STOMP 1.1 and 1.2 "Value Encoding".
 * STOMP 1.0 has no escaping, and CONNECT / CONNECTED frames are never escaped
 * in any version, so that a 1.0 peer can still read the negotiation.
 */

import { RoostError } from '../../src/core/errors.js';
import type { StompVersion } from './frame.js';

// STOMP 1.2 names CONNECT and CONNECTED; STOMP is the 1.2 alias of CONNECT and
// is sent before any version is agreed, so it follows the same rule.
const NEVER_ESCAPED: ReadonlySet<string> = new Set(['CONNECT', 'STOMP', 'CONNECTED']);

/** True when the headers of a `command` frame are escaped under `version`. */
export function escapesHeaders(command: string, version: StompVersion): boolean {
  return version !== '1.0' && !NEVER_ESCAPED.has(command);
}

/**
 * Decodes the escape sequences of one header name or value received under
 * 1.1 (`\n \c \\`) or 1.2 (`\r \n \c \\`).
 * @throws RoostError STOMP_FRAME_MALFORMED on an undefined escape such as `\t`
 *   or a trailing lone backslash, which STOMP 1.2 makes a fatal protocol error.
 */
export function unescapeHeader(text: string, version: '1.1' | '1.2'): string {
  let i = text.indexOf('\\');
  if (i < 0) return text;
  let out = '';
  let from = 0;
  while (i >= 0) {
    out += text.slice(from, i);
    const next = text[i + 1];
    if (next === 'n') out += '\n';
    else if (next === 'c') out += ':';
    else if (next === '\\') out += '\\';
    else if (next === 'r' && version === '1.2') out += '\r';
    else {
      const shown = next === undefined ? 'a trailing backslash' : JSON.stringify(`\\${next}`);
      throw new RoostError('STOMP_FRAME_MALFORMED', `undefined escape sequence ${shown} in a header (STOMP ${version})`);
    }
    from = i + 2;
    i = text.indexOf('\\', from);
  }
  return out + text.slice(from);
}

const SPECIAL = /[\\\n\r:\u0000]/;

/**
 * The wire form of one header name or value, or undefined when `version` and
 * `escaped` cannot carry it: a NUL anywhere (the decoder treats NUL in the
 * header section as a truncated frame); without escaping, a CR or LF, and a
 * colon in a name; under 1.1, a CR (1.1 defines no `\r`).
 */
export function escapeHeader(
  text: string,
  version: StompVersion,
  escaped: boolean,
  isName: boolean,
): string | undefined {
  // Most headers hold none of these: then the text is its own wire form under every rule.
  if (!SPECIAL.test(text)) return text;
  if (text.includes('\u0000')) return undefined;
  if (!escaped) {
    if (text.includes('\n') || text.includes('\r')) return undefined;
    if (isName && text.includes(':')) return undefined;
    return text;
  }
  if (version === '1.1' && text.includes('\r')) return undefined;
  if (!/[\\\n\r:]/.test(text)) return text;
  let out = '';
  for (const ch of text) {
    if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === ':') out += '\\c';
    else out += ch;
  }
  return out;
}
