/**
 * Durable point-to-point queues: the contract the protocols use. STOMP
 * `/queue/<name>`, durable topic subscriptions, `/temp-queue/<name>` and
 * topic-bound queues (MQTT telemetry drained by a STOMP app) all speak it.
 * The core decides (who gets what, when to redeliver or dead-letter); the
 * store's queue primitive persists.
 */
import type { Message } from './message.js';

export type OverflowPolicy = 'drop-oldest' | 'reject';

/** Settings of one queue; unset fields take the broker's queue defaults. */
export interface QueueSettings {
  /** Most messages held; past it the overflow policy applies. */
  readonly maxLength: number;
  readonly overflow: OverflowPolicy;
  /** Milliseconds a message may wait before it expires; 0 means never (a message's own expiry still applies). */
  readonly ttlMs: number;
  /** Deliveries before a message is dead-lettered instead of redelivered; 0 means never. */
  readonly maxDeliveries: number;
  /** Queue that receives dead letters; `null` discards them (counted). Default `DLQ.<name>`. */
  readonly deadLetter: string | null;
  /** Kept in the store across restarts; temp queues are not. */
  readonly durable: boolean;
}

/** A message as handed to one consumer. */
export interface QueueDelivery {
  /** Unique within the broker's lifetime; what the consumer acknowledges by. */
  readonly deliveryId: string;
  /** The queue it came from. */
  readonly queue: string;
  readonly message: Message;
  /** Deliveries so far, this one included. */
  readonly deliveryCount: number;
  /** True when an earlier delivery was not acknowledged. */
  readonly redelivered: boolean;
}

export interface QueueConsumer {
  /** Most unacknowledged deliveries at once; 0 means no limit. */
  readonly prefetch: number;
  /** Acknowledged as soon as handed over (STOMP `ack:auto`): at-most-once. */
  readonly autoAck: boolean;
  /** Hands one delivery over; must not throw. */
  deliver(delivery: QueueDelivery): void;
}

export interface ConsumerHandle {
  /** Removes the delivery from the queue for good. Unknown ids are ignored (false). */
  ack(deliveryId: string): Promise<boolean>;
  /** Gives the delivery back: redelivered (marked) or, past `maxDeliveries`, dead-lettered. */
  nack(deliveryId: string): Promise<boolean>;
  /** Stops deliveries; every unacknowledged one goes back to the queue, marked redelivered. */
  close(): Promise<void>;
}

export interface QueueStats {
  /** Messages waiting, not yet handed to a consumer. */
  readonly ready: number;
  /** Handed to a consumer, not yet acknowledged. */
  readonly unacked: number;
  readonly expired: number;
  readonly deadLettered: number;
  /** Dropped by the overflow policy. */
  readonly dropped: number;
}

export interface DurableQueue {
  readonly name: string;
  readonly settings: QueueSettings;
  /**
   * Appends one message; resolves once it is durable (a RECEIPT or PUBACK may
   * follow). Competing consumers are served round-robin.
   * @throws RoostError QUEUE_FULL when the queue is full and its overflow policy is `reject`
   */
  enqueue(message: Message): Promise<void>;
  consume(consumer: QueueConsumer): ConsumerHandle;
  stats(): QueueStats;
}

export interface QueueRegistry {
  /** The named queue, created with `settings` over the defaults when it does not exist. */
  open(name: string, settings?: Partial<QueueSettings>): Promise<DurableQueue>;
  /**
   * The named queue when it is open now, without waiting: lets a producer
   * enqueue in its own turn. Optional; callers fall back to `open`.
   */
  opened?(name: string): DurableQueue | undefined;
  /**
   * Makes every message published on `filter` (any protocol) land in the queue;
   * the publisher is acknowledged only once it is stored. Persistent bindings
   * survive a restart; config bindings are re-made at start.
   */
  bind(queue: string, filter: string, options?: { readonly persistent?: boolean }): Promise<void>;
  unbind(queue: string, filter: string): Promise<void>;
  /** Deletes a queue and its messages (temp queues when their session ends). */
  delete(name: string): Promise<void>;
}
