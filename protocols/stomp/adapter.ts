/**
 * STOMP SEND frame → Message, and Message → MESSAGE frame. Pure.
 *
 * Lossless where the other side can carry it (the table is in docs/stomp.md):
 * custom headers ⇄ MQTT 5 user properties, `content-type` ⇄ contentType,
 * `correlation-id` ⇄ correlationData (UTF-8), `reply-to` ⇄ responseTopic,
 * `expires` (epoch ms) ⇄ messageExpiry / messageExpiryInterval,
 * `persistent:true` ⇄ QoS 1. The body is never re-encoded.
 */

import { isUtf8 } from 'node:buffer';
import { RoostError } from '../../src/core/errors.js';
import type { Message, MessageProperties, Origin, QoS } from '../../src/core/message.js';
import { headerEncodable } from './codec.js';
import { escapeHeader, escapesHeaders } from './escape.js';
import type { StompFrame, StompVersion } from './codec.js';
import { QUEUE_PREFIX, parseDestination, queueDestination, tempQueueName, topicDestination } from './destinations.js';
import type { DestinationOptions } from './destinations.js';

/**
 * Headers with a meaning of their own in STOMP or in this mapping: never
 * copied into user properties, never written from them.
 */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  // Defined by STOMP 1.0–1.2 on some frame.
  'accept-version',
  'ack',
  'content-length',
  'content-type',
  'destination',
  'heart-beat',
  'host',
  'id',
  'login',
  'message',
  'message-id',
  'passcode',
  'receipt',
  'receipt-id',
  'server',
  'session',
  'subscription',
  'transaction',
  'version',
  // Mapped to message properties here.
  'correlation-id',
  'expires',
  'persistent',
  'reply-to',
  'redelivered',
]);

/** Headers Roost writes itself use this prefix; a client cannot set or receive them as custom headers. */
export const ROOST_HEADER_PREFIX = 'roost-';

/** Deliveries so far of the message in a MESSAGE frame, this one included. */
export const DELIVERY_COUNT_HEADER = 'roost-delivery-count';

/** True when `name` is never a custom header (see RESERVED_HEADERS). */
export function isReservedHeader(name: string): boolean {
  return RESERVED_HEADERS.has(name) || name.startsWith(ROOST_HEADER_PREFIX);
}

const DIGITS = /^[0-9]+$/;

export interface SendContext {
  /** MQTT topic of the message: the `/topic/` name, or the queue's name for a `/queue/` send. */
  readonly topic: string;
  readonly nowMs: number;
  readonly origin: Origin;
  readonly destinations: DestinationOptions;
  /** Session whose `/temp-queue/<name>` a `reply-to` means. */
  readonly sessionId: string;
}

/**
 * The Message a SEND frame carries. `reply-to:/temp-queue/<name>` becomes
 * `/queue/temp.<session>.<name>` so that whoever answers reaches this session.
 * An `expires` already past leaves `messageExpiry` in the past: the caller
 * drops the message (see `isExpired`).
 * @throws RoostError STOMP_HEADER_INVALID when `expires` is not a non-negative
 *   integer; STOMP_DESTINATION_INVALID when `reply-to` is not a destination.
 */
export function sendToMessage(frame: StompFrame, context: SendContext): Message {
  let properties: { -readonly [K in keyof MessageProperties]: MessageProperties[K] } | undefined;
  let qos: QoS = 0;
  let messageExpiry: number | undefined;
  let user: Array<[string, string]> | undefined;
  const headers = frame.headers;
  // A handful of headers is the rule: finding a repeat by looking back is cheaper than a Set.
  const seen = headers.length > SCAN_FOR_REPEATS ? new Set<string>() : undefined;

  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i] as readonly [string, string];
    // STOMP 1.2 "Repeated Header Entries": only the first one counts.
    if (seen !== undefined) {
      if (seen.has(name)) continue;
      seen.add(name);
    } else if (repeated(headers, i, name)) {
      continue;
    }
    switch (name) {
      case 'content-type':
        (properties ??= {}).contentType = value;
        continue;
      case 'correlation-id':
        (properties ??= {}).correlationData = Buffer.from(value, 'utf8');
        continue;
      case 'reply-to':
        (properties ??= {}).responseTopic = responseTopicOf(value, context);
        continue;
      case 'persistent':
        qos = value === 'true' ? 1 : 0;
        continue;
      case 'expires': {
        if (!DIGITS.test(value)) {
          throw new RoostError('STOMP_HEADER_INVALID', `expires ${JSON.stringify(value.slice(0, 40))} is not a time in epoch milliseconds`);
        }
        const at = Number(value);
        // ActiveMQ: expires:0 means the message never expires.
        if (at === 0) continue;
        messageExpiry = at;
        if (at > context.nowMs) (properties ??= {}).messageExpiryInterval = Math.ceil((at - context.nowMs) / 1000);
        continue;
      }
      default:
        if (isReservedHeader(name)) continue;
        (user ??= []).push([name, value]);
    }
  }
  // fromEntries defines own properties, so a header named `__proto__` is kept as data, not a prototype.
  if (user !== undefined) (properties ??= {}).userProperties = Object.fromEntries(user);

  const message: { -readonly [K in keyof Message]: Message[K] } = {
    cmd: 'publish',
    topic: context.topic,
    payload: frame.body,
    qos,
    retain: false,
    timestamp: context.nowMs,
    origin: context.origin,
  };
  if (properties !== undefined) message.properties = properties;
  if (messageExpiry !== undefined) message.messageExpiry = messageExpiry;
  return message;
}

/** Up to this many headers, repeats are found by looking back instead of with a Set. */
const SCAN_FOR_REPEATS = 16;

function repeated(headers: StompFrame['headers'], at: number, name: string): boolean {
  for (let j = 0; j < at; j++) if ((headers[j] as readonly [string, string])[0] === name) return true;
  return false;
}

/** `responseTopic` of a `reply-to`: an MQTT topic for `/topic/`, the STOMP destination for a queue. */
function responseTopicOf(replyTo: string, context: SendContext): string {
  const destination = parseDestination(replyTo, 'send', context.destinations);
  switch (destination.kind) {
    case 'topic':
      return destination.topic;
    case 'queue':
      return queueDestination(destination.queue);
    case 'temp-queue':
      return queueDestination(tempQueueName(context.sessionId, destination.name));
  }
}

export interface MessageFrameContext {
  readonly version: StompVersion;
  /** The `id` of the subscription it is delivered to. */
  readonly subscription: string;
  readonly messageId: string;
  /** `destination` header: the subscription's queue, or the message's topic for a topic subscription. */
  readonly destination: string;
  /** STOMP 1.2 `ack` header, for subscriptions whose ack mode is not `auto`. */
  readonly ack?: string | undefined;
  readonly redelivered: boolean;
  readonly deliveryCount: number;
  readonly dottedTopics: boolean;
  /** Used for `expires` when the message has only a relative expiry interval. */
  readonly nowMs: number;
}

/**
 * The MESSAGE frame delivering `message`. Headers the version cannot encode
 * (codec `headerEncodable`) are dropped; a user property named like a reserved
 * header is dropped; a repeated user property sends its first value, the one a
 * STOMP receiver reads. `content-length` is always present.
 */
export function messageFrame(message: Message, context: MessageFrameContext): StompFrame {
  const { version } = context;
  const headers: Array<readonly [string, string]> = [];
  // The names below are Roost's own and encodable everywhere: only values need the check.
  addValue(headers, version, 'subscription', context.subscription);
  addValue(headers, version, 'message-id', context.messageId);
  addValue(headers, version, 'destination', context.destination);
  if (context.ack !== undefined && version === '1.2') addValue(headers, version, 'ack', context.ack);

  const properties = message.properties;
  if (properties !== undefined) {
    if (properties.contentType !== undefined) addValue(headers, version, 'content-type', properties.contentType);
    if (properties.correlationData !== undefined && isUtf8(properties.correlationData)) {
      addValue(headers, version, 'correlation-id', properties.correlationData.toString('utf8'));
    }
    if (properties.responseTopic !== undefined) {
      const topic = properties.responseTopic;
      addValue(headers, version, 'reply-to', topic.startsWith(QUEUE_PREFIX) ? topic : topicDestination(topic, context.dottedTopics));
    }
  }
  const expiresAt = message.messageExpiry ?? intervalExpiry(message, context.nowMs);
  if (expiresAt !== undefined) headers.push(['expires', String(expiresAt)]);
  if (message.qos > 0) headers.push(PERSISTENT);
  if (context.redelivered) headers.push(REDELIVERED);
  headers.push([DELIVERY_COUNT_HEADER, String(context.deliveryCount)]);

  const user = properties?.userProperties;
  if (user !== undefined) {
    for (const [name, raw] of Object.entries(user)) {
      if (isReservedHeader(name)) continue;
      const value = typeof raw === 'string' ? raw : raw[0];
      if (value !== undefined && headerEncodable('MESSAGE', name, value, version)) headers.push([name, value]);
    }
  }
  // STOMP 1.2 "Header content-length": SHOULD be present; Roost always sends it.
  headers.push(['content-length', String(message.payload.length)]);
  return { command: 'MESSAGE', headers, body: message.payload };
}

const PERSISTENT: readonly [string, string] = Object.freeze(['persistent', 'true'] as const);
const REDELIVERED: readonly [string, string] = Object.freeze(['redelivered', 'true'] as const);

/** Adds header `name` (one of Roost's, encodable by every version) when `version` can carry `value`. */
function addValue(headers: Array<readonly [string, string]>, version: StompVersion, name: string, value: string): void {
  if (escapeHeader(value, version, escapesHeaders('MESSAGE', version), false) !== undefined) headers.push([name, value]);
}

function intervalExpiry(message: Message, nowMs: number): number | undefined {
  const seconds = message.properties?.messageExpiryInterval;
  if (seconds === undefined || seconds <= 0) return undefined;
  return (message.timestamp ?? nowMs) + seconds * 1000;
}
