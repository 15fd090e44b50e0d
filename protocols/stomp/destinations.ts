/**
 * STOMP destinations ⇄ Roost's topics and queues. Pure: no state.
 *
 * STOMP 1.2 "SEND": "STOMP considers this destination to be an opaque string
 * and no delivery semantics are assumed by the name of a destination"; the
 * server decides. Roost's names (see docs/stomp.md):
 *
 *   /topic/<mqtt topic>   publish-subscribe through the Router; SUBSCRIBE takes
 *                         MQTT filters (`+`, `#`, `$share/<group>/…`)
 *   /queue/<name>         a durable point-to-point queue
 *   /temp-queue/<name>    a queue private to one connection, deleted with it
 *
 * With `dottedTopics` on, `/topic/a.b.c` also means `a/b/c` and `*` / `>`
 * (or `#`) are the one-level / multi-level wildcards, the way ActiveMQ and
 * RabbitMQ name topics.
 */

import { RoostError } from '../../src/core/errors.js';
import { DEFAULT_TOPIC_LIMITS, topicFilterProblem, topicNameProblem } from '../../src/core/topic.js';
import type { TopicLimits } from '../../src/core/topic.js';

export const TOPIC_PREFIX = '/topic/';
export const QUEUE_PREFIX = '/queue/';
export const TEMP_QUEUE_PREFIX = '/temp-queue/';

export interface DestinationOptions {
  /** Read and write `/topic/a.b.c` (and `*`, `>`) as MQTT `a/b/c` (`+`, `#`). */
  readonly dottedTopics: boolean;
  readonly topicLimits: TopicLimits;
  /** Longest queue or temp-queue name, UTF-8 bytes. */
  readonly maxQueueNameBytes: number;
}

export const DEFAULT_DESTINATION_OPTIONS: DestinationOptions = Object.freeze({
  dottedTopics: false,
  topicLimits: DEFAULT_TOPIC_LIMITS,
  maxQueueNameBytes: 255,
});

/** A parsed destination. A topic is in canonical MQTT form (a filter when parsed for `subscribe`). */
export type Destination =
  | { readonly kind: 'topic'; readonly topic: string }
  | { readonly kind: 'queue'; readonly queue: string }
  | { readonly kind: 'temp-queue'; readonly name: string };

/** What the destination is used for: a SEND names one topic, a SUBSCRIBE may use wildcards. */
export type DestinationUse = 'send' | 'subscribe';

// C0 controls and DEL in a queue name would only confuse logs and admin tools.
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Parses a `destination` (or `reply-to`) header.
 * @throws RoostError STOMP_DESTINATION_INVALID naming what is wrong: an unknown
 *   prefix, an empty name, a bad MQTT topic or filter (src/core/topic.ts rules),
 *   a queue name too long or holding control characters.
 */
export function parseDestination(
  text: string,
  use: DestinationUse,
  options: DestinationOptions = DEFAULT_DESTINATION_OPTIONS,
): Destination {
  if (text.startsWith(TOPIC_PREFIX)) {
    const topic = stompToMqtt(text.slice(TOPIC_PREFIX.length), options.dottedTopics);
    const problem = use === 'send' ? topicNameProblem(topic, options.topicLimits) : topicFilterProblem(topic, options.topicLimits);
    if (problem !== undefined) throw invalid(text, `the topic ${problem}`);
    // MQTT 5 §4.7.2: `$` topics are the server's ($SYS, $share); clients subscribe to them, never publish.
    if (use === 'send' && topic.startsWith('$')) throw invalid(text, 'topics starting with $ are reserved for the broker');
    return { kind: 'topic', topic };
  }
  if (text.startsWith(QUEUE_PREFIX)) {
    return { kind: 'queue', queue: queueName(text, text.slice(QUEUE_PREFIX.length), options) };
  }
  if (text.startsWith(TEMP_QUEUE_PREFIX)) {
    return { kind: 'temp-queue', name: queueName(text, text.slice(TEMP_QUEUE_PREFIX.length), options) };
  }
  throw invalid(text, `it does not start with ${TOPIC_PREFIX}, ${QUEUE_PREFIX} or ${TEMP_QUEUE_PREFIX}`);
}

/**
 * The STOMP destination of MQTT topic (or filter) `topic`: `/topic/<topic>`,
 * dotted when `dottedTopics` is on and the topic survives the round trip
 * (no level holding `.` or being `*` / `>`); otherwise in slash form.
 */
export function topicDestination(topic: string, dottedTopics: boolean): string {
  if (!dottedTopics || !topic.includes('/')) {
    // One level reads back the same in both forms, except a level holding a dot,
    // which dotted mode splits: the one topic shape it cannot round-trip (docs/stomp.md).
    return TOPIC_PREFIX + topic;
  }
  const levels = topic.split('/');
  if (levels.some((l) => l.includes('.') || l === '*' || l === '>')) return TOPIC_PREFIX + topic;
  return TOPIC_PREFIX + levels.map((l) => (l === '+' ? '*' : l === '#' ? '>' : l)).join('.');
}

/** `/queue/<name>`. */
export function queueDestination(queue: string): string {
  return QUEUE_PREFIX + queue;
}

/**
 * The queue behind `/temp-queue/<name>` of session `sessionId`. Other
 * connections reach it as `/queue/temp.<session>.<name>`, which is what a
 * `reply-to:/temp-queue/<name>` is rewritten to.
 */
export function tempQueueName(sessionId: string, name: string): string {
  return `${TEMP_QUEUE_NAME_PREFIX}${sessionId}.${name}`;
}

/** Every temp queue's name starts with this. */
export const TEMP_QUEUE_NAME_PREFIX = 'temp.';

/** The queue holding durable topic subscription `name` of client `clientId`. */
export function durableQueueName(clientId: string, name: string): string {
  return `durable.${clientId}.${name}`;
}

/**
 * Canonical MQTT form of what follows `/topic/`. In dotted mode a name without
 * `/` is dotted: `a.b.*` → `a/b/+`, `a.>` and `a.#` → `a/#`; a name holding
 * `/` is already in MQTT form, so both spellings work.
 */
function stompToMqtt(rest: string, dottedTopics: boolean): string {
  if (!dottedTopics || rest.includes('/')) return rest;
  return rest
    .split('.')
    .map((l) => (l === '*' ? '+' : l === '>' ? '#' : l))
    .join('/');
}

function queueName(text: string, name: string, options: DestinationOptions): string {
  if (name.length === 0) throw invalid(text, 'the queue name is empty');
  if (Buffer.byteLength(name, 'utf8') > options.maxQueueNameBytes) {
    throw invalid(text, `the queue name is longer than ${options.maxQueueNameBytes} bytes`);
  }
  if (CONTROL.test(name)) throw invalid(text, 'the queue name holds a control character');
  return name;
}

function invalid(text: string, why: string): RoostError {
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
  return new RoostError('STOMP_DESTINATION_INVALID', `destination ${shown} is not valid: ${why}`);
}
