import type { Accepted, PublisherFlow, RouteTarget, Router, RoutedMessage } from '../../src/core/router.js';
import type { Message, QoS } from '../../src/core/message.js';

/** aedes' listener signature: a packet in, a callback when it is handled. */
type Notify = ((packet: RoutedMessage, done: Accepted) => void) & { subscription?: SubscriptionMeta };

/** What the router's slow-consumer policy reads of an aedes client. */
interface SessionClient {
  readonly id: string;
  /** false for a session that outlives the connection (v3/v4 clean=false, v5 session expiry > 0). */
  readonly clean: boolean;
  readonly closed: boolean;
  /**
   * Ends the session: DISCONNECT with `reasonCode` (v5; 3.1.1 has none), then
   * the close, which lets the client take what was written before within a grace.
   */
  disconnect(opts: { reasonCode: number; properties?: { reasonString?: string } }, done?: () => void): void;
}

/**
 * What Roost's aedes patch attaches to a client subscription's listener, so
 * the router can merge overlapping subscriptions of one session.
 */
interface SubscriptionMeta {
  /** The aedes client holding the subscription. */
  readonly owner: SessionClient;
  readonly qos: QoS;
  readonly subscriptionId?: number;
}

/** The MQEmitter-shaped face aedes expects from its `mq` option. */
export interface AedesMq {
  on(topic: string, notify: Notify, done?: () => void): AedesMq;
  removeListener(topic: string, notify: Notify, done?: () => void): AedesMq;
  /** `from` is the publishing client (Roost's aedes patch passes it); absent for the broker's own messages. */
  emit(packet: Message, done?: (err?: Error | null) => void, from?: PublisherFlow): void;
  close(done: () => void): void;
}

// MQTT 5 §3.14.2.1: "An implementation or administrative imposed limit has been exceeded".
const QUOTA_EXCEEDED = 0x97;
const SHARE_PREFIX = '$share/';

/**
 * Lets aedes use the core Router as its `mq`, so MQTT subscriptions live in
 * the same trie as every other protocol's. Each aedes listener function maps
 * to one RouteTarget for as long as it is subscribed.
 */
export function routerAsMq(router: Router): AedesMq {
  const targets = new Map<Notify, { target: RouteTarget; filters: number }>();

  const targetFor = (notify: Notify, topic: string): RouteTarget => {
    const known = targets.get(notify);
    if (known) {
      known.filters++;
      return known.target;
    }
    const meta = notify.subscription;
    const target: RouteTarget = meta
      ? {
          deliver: notify,
          owner: meta.owner,
          qos: meta.qos,
          ...(meta.subscriptionId === undefined ? {} : { subscriptionId: meta.subscriptionId }),
          // A shared subscription is not queued for offline members (src/store/aedes-persistence.ts).
          ...(topic.startsWith(SHARE_PREFIX) || meta.qos === 0 ? {} : { inStore: (message: RoutedMessage) => storedFor(meta.owner, message) }),
          disconnect: (reason: string) => disconnectSlow(meta.owner, reason),
          consumer: { proto: 'mqtt', clientId: meta.owner.id },
        }
      : { deliver: notify };
    targets.set(notify, { target, filters: 1 });
    return target;
  };

  const mq: AedesMq = {
    on(topic, notify, done) {
      router.subscribe(topic, targetFor(notify, topic));
      if (done) setImmediate(done);
      return mq;
    },
    removeListener(topic, notify, done) {
      const known = targets.get(notify);
      if (known) {
        router.unsubscribe(topic, known.target);
        if (--known.filters === 0) targets.delete(notify);
      }
      if (done) setImmediate(done);
      return mq;
    },
    emit(packet, done, from) {
      // aedes' callback takes the router's (err) as it is: no closure per message.
      router.publish(packet, done ?? ignore, from);
    },
    close(done) {
      setImmediate(done);
    },
  };
  return mq;
}

/**
 * True when the store holds `message` for `client` already: aedes queues
 * every QoS 1/2 message it publishes for each persistent session subscribed
 * to it, connected or not, before routing it (its `brokerId` marks it as
 * published through the engine; messages from STOMP are not queued so).
 */
function storedFor(client: SessionClient, message: RoutedMessage): boolean {
  return !client.clean && message.qos > 0 && (message as { readonly brokerId?: string }).brokerId !== undefined;
}

/**
 * The `disconnect` slow-consumer policy: a v5 client gets DISCONNECT 0x97
 * Quota exceeded, then the close; 3.1.1 has no server DISCONNECT, so the
 * connection is closed.
 */
function disconnectSlow(client: SessionClient, reason: string): void {
  if (client.closed) return;
  client.disconnect({ reasonCode: QUOTA_EXCEEDED, properties: { reasonString: `slow consumer: ${reason}` } });
}

function ignore(): void {}
