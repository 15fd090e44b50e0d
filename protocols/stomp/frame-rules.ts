/**
 * The checks a session makes on a client frame before acting on it, and the
 * ERROR frame that answers a failed one (STOMP 1.2 "ERROR"). Pure.
 */

import { RoostError } from '../../src/core/errors.js';
import type { ErrorCode } from '../../src/core/errors.js';
import { header } from './codec.js';
import type { StompFrame } from './codec.js';

/** The value of header `name`. @throws RoostError STOMP_PROTOCOL_VIOLATION when it is absent. */
export function required(frame: StompFrame, name: string): string {
  const value = header(frame, name);
  if (value === undefined) throw missing(name, frame);
  return value;
}

/** The error for a frame lacking header `name`. */
export function missing(name: string, frame: StompFrame, why?: string): RoostError {
  return violation(`${frame.command} frame is missing the required ${name} header${why === undefined ? '' : ` (${why})`}`);
}

/** @throws RoostError STOMP_PROTOCOL_VIOLATION when the frame has a body. */
export function noBody(frame: StompFrame): void {
  // STOMP 1.2 "Frames": only SEND, MESSAGE and ERROR frames may have a body.
  if (frame.body.length > 0) throw violation(`a ${frame.command} frame may not carry a body`);
}

/** An ACL denial; the ERROR names the destination (issue: ERROR then close). */
export function denied(action: string, destination: string): RoostError {
  return new RoostError('STOMP_ACCESS_DENIED', `not authorized to ${action} ${destination}`);
}

export function violation(message: string): RoostError {
  return new RoostError('STOMP_PROTOCOL_VIOLATION', message);
}

export function headerInvalid(message: string): RoostError {
  return new RoostError('STOMP_HEADER_INVALID', message);
}

/** Peer text for an error message: quoted and short. */
export function shown(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

// Short `message` headers for codes whose detail belongs in the body.
const SUMMARY: Partial<Record<ErrorCode, string>> = {
  STOMP_FRAME_MALFORMED: 'malformed frame',
  STOMP_LIMIT_EXCEEDED: 'limit exceeded',
  STOMP_AUTH_FAILED: 'access refused',
  STOMP_HEARTBEAT_TIMEOUT: 'heart-beat timeout',
  QUEUE_FULL: 'queue full',
  INTERNAL: 'internal error',
};

// The `message` header may be read before any version is agreed, or by a
// client that does not unescape: keep it free of what needs escaping anywhere.
const UNSAFE_IN_MESSAGE = /[\r\n\\\u0000]/g;
const MESSAGE_HEADER_CHARS = 200;

export interface ErrorFrameOptions {
  /** The frame that failed: its `receipt` becomes `receipt-id`, its command is named in the body. */
  readonly failed?: StompFrame;
  /** Headers after `message` (the `version` list of a failed negotiation). */
  readonly extra?: ReadonlyArray<readonly [string, string]>;
  /** `message` header instead of the code's summary. */
  readonly summary?: string;
}

/**
 * The ERROR frame for `err`: a short `message` header (the code's summary, or
 * the error's text cleaned of CR, LF, backslash and NUL), `receipt-id` when
 * the failing frame asked for a receipt, `content-type:text/plain` and the
 * full text in the body. Never echoes a body or a passcode.
 */
export function errorFrame(err: RoostError, options: ErrorFrameOptions = {}): StompFrame {
  const { failed } = options;
  const text = (options.summary ?? SUMMARY[err.code] ?? err.message).replace(UNSAFE_IN_MESSAGE, ' ');
  const headers: Array<readonly [string, string]> = [['message', text.slice(0, MESSAGE_HEADER_CHARS)], ...(options.extra ?? [])];
  // STOMP 1.2 "CONNECT": a CONNECT carries no receipt, so none is echoed for it.
  const receipt = failed === undefined || failed.command === 'CONNECT' || failed.command === 'STOMP' ? undefined : header(failed, 'receipt');
  if (receipt !== undefined) headers.push(['receipt-id', receipt]);
  headers.push(['content-type', 'text/plain']);
  const body = `${err.message}\n${failed === undefined ? '' : `\nThe frame that failed: ${shown(failed.command)}\n`}`;
  return { command: 'ERROR', headers, body: Buffer.from(body, 'utf8') };
}
