/**
 * The store's key layout, version 2. Keys are UTF-8 strings; every key starts
 * with a one-letter namespace and `!`. See docs/store.md for the full table.
 *
 *   `!version`                     layout version, decimal ASCII
 *   `!shutdown`                    present only between a clean close and the next open
 *   `r!<topic>`                    retained message (codec record)
 *   `m!<seq>`                      message body shared by queue entries
 *   `q!<name>\0<seq>`              queue entry (codec record: ref / inline body, key, tag, expiry)
 *   `s!<client>\0<filter>`         persisted subscription
 *   `w!<client>`                   will message
 *   `i!<client>\0<messageId>`      incoming QoS 2 packet awaiting PUBREL
 *   `c!<queue>`                    durable named queue definition (codec record)
 *   `b!<queue>\0<filter>`          persistent binding of a topic filter to a queue
 *
 * `<seq>` is a 14-digit lowercase hex number (2^56 > Number.MAX_SAFE_INTEGER),
 * so lexical order is numeric order. `<name>`/`<client>` are escaped so they
 * never hold `\0`: then `<name>\0` is never a prefix of another name's keys,
 * and a range scan of client `abc` cannot reach client `abcd`. A topic holds no
 * U+0000 [MQTT-4.7.3-2], so `<topic>`/`<filter>` are stored as they are.
 */

/**
 * The layout this code writes. A store with a higher number is refused.
 * 2: a queue entry may hold its message record inline (queue-store.ts); a
 * layout 1 store is valid layout 2 as it is, and is stamped 2 when opened.
 */
export const LAYOUT_VERSION = 2;

export const VERSION_KEY = '!version';
/** Written by a clean close, deleted at open: missing at open means the last run ended without closing the store. */
export const SHUTDOWN_KEY = '!shutdown';
export const RETAINED_PREFIX = 'r!';
export const MESSAGE_PREFIX = 'm!';
export const QUEUE_PREFIX = 'q!';
export const SUBSCRIPTION_PREFIX = 's!';
export const WILL_PREFIX = 'w!';
export const INCOMING_PREFIX = 'i!';
export const CATALOG_PREFIX = 'c!';
export const BINDING_PREFIX = 'b!';

const SEQ_DIGITS = 14;
const SEP = '\u0000';

/** `\0` → `\u0001\u0001`, `\u0001` → `\u0001\u0002`: injective and free of `\0`. */
export function escapeName(name: string): string {
  if (!/[\u0000\u0001]/.test(name)) return name;
  return name.replace(/[\u0000\u0001]/g, (c) => (c === SEP ? '\u0001\u0001' : '\u0001\u0002'));
}

export function unescapeName(escaped: string): string {
  if (!escaped.includes('\u0001')) return escaped;
  return escaped.replace(/\u0001([\u0001\u0002])/g, (_, c: string) => (c === '\u0001' ? SEP : '\u0001'));
}

export function encodeSeq(seq: number): string {
  return seq.toString(16).padStart(SEQ_DIGITS, '0');
}

export function decodeSeq(text: string): number {
  return parseInt(text, 16);
}

/** Every key of `prefix`, for an iterator: `gte` prefix, `lt` prefix with its last char + 1. */
export function prefixRange(prefix: string): { gte: string; lt: string } {
  const last = prefix.charCodeAt(prefix.length - 1);
  return { gte: prefix, lt: prefix.slice(0, -1) + String.fromCharCode(last + 1) };
}

export function retainedKey(topic: string): string {
  return RETAINED_PREFIX + topic;
}

export function messageKey(seq: number): string {
  return MESSAGE_PREFIX + encodeSeq(seq);
}

/** The prefix of every entry of one queue. */
export function queuePrefix(name: string): string {
  return QUEUE_PREFIX + escapeName(name) + SEP;
}

export function queueEntryKey(name: string, seq: number): string {
  return queuePrefix(name) + encodeSeq(seq);
}

/** Splits a `q!` key into its queue name and entry seq. */
export function parseQueueEntryKey(key: string): { name: string; seq: number } {
  const sep = key.lastIndexOf(SEP);
  return { name: unescapeName(key.slice(QUEUE_PREFIX.length, sep)), seq: decodeSeq(key.slice(sep + 1)) };
}

export function clientPrefix(namespace: string, clientId: string): string {
  return namespace + escapeName(clientId) + SEP;
}

/** `<namespace><client>\0<item>` for subscriptions and incoming packets. */
export function clientItemKey(namespace: string, clientId: string, item: string): string {
  return clientPrefix(namespace, clientId) + item;
}

/** Splits a `s!`/`i!` key into client id and item. */
export function parseClientItemKey(namespace: string, key: string): { clientId: string; item: string } {
  const sep = key.indexOf(SEP, namespace.length);
  return { clientId: unescapeName(key.slice(namespace.length, sep)), item: key.slice(sep + 1) };
}

export function willKey(clientId: string): string {
  return WILL_PREFIX + escapeName(clientId);
}
