import type { Accepted, PublisherFlow, RouteTarget, Router, RoutedMessage } from '../../src/core/router.js';
import type { Message, QoS } from '../../src/core/message.js';

/** aedes' listener signature: a packet in, a callback when it is handled. */
type Notify = ((packet: RoutedMessage, done: Accepted) => void) & { subscription?: SubscriptionMeta };

/**
 * What Roost's aedes patch attaches to a client subscription's listener, so
 * the router can merge overlapping subscriptions of one session.
 */
interface SubscriptionMeta {
  readonly owner: object;
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

/**
 * Lets aedes use the core Router as its `mq`, so MQTT subscriptions live in
 * the same trie as every other protocol's. Each aedes listener function maps
 * to one RouteTarget for as long as it is subscribed.
 */
export function routerAsMq(router: Router): AedesMq {
  const targets = new Map<Notify, { target: RouteTarget; filters: number }>();

  const targetFor = (notify: Notify): RouteTarget => {
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
        }
      : { deliver: notify };
    targets.set(notify, { target, filters: 1 });
    return target;
  };

  const mq: AedesMq = {
    on(topic, notify, done) {
      router.subscribe(topic, targetFor(notify));
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

function ignore(): void {}
