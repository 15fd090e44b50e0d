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
  const properties: { -readonly [K in keyof MessageProperties]: MessageProperties[K] } = {};
  let qos: QoS = 0;
  let messageExpiry: number | undefined;
  const user: Array<[string, string]> = [];
  const seen = new Set<string>();

  for (const [name, value] of frame.headers) {
    // STOMP 1.2 "Repeated Header Entries": only the first one counts.
    if (seen.has(name)) continue;
    seen.add(name);
    switch (name) {
      case 'content-type':
        properties.contentType = value;
        continue;
      case 'correlation-id':
        properties.correlationData = Buffer.from(value, 'utf8');
        continue;
      case 'reply-to':
        properties.responseTopic = responseTopicOf(value, context);
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
        if (at > context.nowMs) properties.messageExpiryInterval = Math.ceil((at - context.nowMs) / 1000);
        continue;
      }
      default:
        if (isReservedHeader(name)) continue;
        user.push([name, value]);
    }
  }
  // fromEntries defines own properties, so a header named `__proto__` is kept as data, not a prototype.
  if (user.length > 0) properties.userProperties = Object.fromEntries(user);

  return {
    cmd: 'publish',
    topic: context.topic,
    payload: frame.body,
    qos,
    retain: false,
    ...(Object.keys(properties).length > 0 ? { properties } : {}),
    timestamp: context.nowMs,
    ...(messageExpiry === undefined ? {} : { messageExpiry }),
    origin: context.origin,
  };
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
  readonly ack?: string;
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
  const add = (name: string, value: string): void => {
    if (headerEncodable('MESSAGE', name, value, version)) headers.push([name, value]);
  };
  add('subscription', context.subscription);
  add('message-id', context.messageId);
  add('destination', context.destination);
  if (context.ack !== undefined && version === '1.2') add('ack', context.ack);

  const properties = message.properties;
  if (properties?.contentType !== undefined) add('content-type', properties.contentType);
  if (properties?.correlationData !== undefined && isUtf8(properties.correlationData)) {
    add('correlation-id', properties.correlationData.toString('utf8'));
  }
  if (properties?.responseTopic !== undefined) {
    const topic = properties.responseTopic;
    add('reply-to', topic.startsWith(QUEUE_PREFIX) ? topic : topicDestination(topic, context.dottedTopics));
  }
  const expiresAt = message.messageExpiry ?? intervalExpiry(message, context.nowMs);
  if (expiresAt !== undefined) add('expires', String(expiresAt));
  if (message.qos > 0) add('persistent', 'true');
  if (context.redelivered) add('redelivered', 'true');
  add(DELIVERY_COUNT_HEADER, String(context.deliveryCount));

  const user = properties?.userProperties;
  if (user !== undefined) {
    for (const [name, raw] of Object.entries(user)) {
      if (isReservedHeader(name)) continue;
      const value = typeof raw === 'string' ? raw : raw[0];
      if (value !== undefined) add(name, value);
    }
  }
  // STOMP 1.2 "Header content-length": SHOULD be present; Roost always sends it.
  headers.push(['content-length', String(message.payload.length)]);
  return { command: 'MESSAGE', headers, body: message.payload };
}

function intervalExpiry(message: Message, nowMs: number): number | undefined {
  const seconds = message.properties?.messageExpiryInterval;
  if (seconds === undefined || seconds <= 0) return undefined;
  return (message.timestamp ?? nowMs) + seconds * 1000;
}
