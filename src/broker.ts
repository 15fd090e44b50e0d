import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import type { RoostConfig } from './config/types.js';
import { Router } from './core/router.js';
import { DEFAULT_TOPIC_LIMITS } from './core/topic.js';
import { Queues, type QueueCatalog } from './core/queues.js';
import type { QueueSettings } from './core/queue.js';
import { AedesLevelPersistence, LevelStore } from './store/index.js';
import { createMqttEngine, closeMqttEngine } from '../protocols/mqtt/engine.js';
import { MqttListener } from '../protocols/mqtt/listener.js';
import { StompListener } from '../protocols/stomp/listener.js';

/** Bound ports of the running listeners; absent when a listener is disabled. */
export interface BrokerPorts {
  readonly mqtt?: number;
  readonly stomp?: number;
}

type Step = () => Promise<void>;

export interface BrokerStartOptions {
  /**
   * Bind every enabled listener on an ephemeral port instead of its configured
   * one (a configured port of 0 still means disabled). Tests use this.
   */
  readonly ephemeralPorts?: boolean;
}

/**
 * The composition root: one store, one router, the protocol listeners.
 * `start()` builds them in order; `close()` undoes them in reverse, running
 * every step even when one fails.
 */
export class Broker {
  readonly ports: BrokerPorts;
  readonly router: Router;
  readonly queues: Queues;
  readonly store: LevelStore;
  readonly #log: Logger;
  readonly #teardown: Step[];
  #closing: Promise<void> | undefined;

  private constructor(parts: { ports: BrokerPorts; router: Router; queues: Queues; store: LevelStore }, log: Logger, teardown: Step[]) {
    this.ports = parts.ports;
    this.router = parts.router;
    this.queues = parts.queues;
    this.store = parts.store;
    this.#log = log;
    this.#teardown = teardown;
  }

  /** @throws RoostError LISTEN_ADDRESS_IN_USE | LISTEN_FAILED | STORE_LOCKED | STORE_CORRUPT | STORE_UNWRITABLE | STORE_VERSION_UNSUPPORTED */
  static async start(config: RoostConfig, log: Logger, options: BrokerStartOptions = {}): Promise<Broker> {
    const portFor = (configured: number): number => (options.ephemeralPorts ? 0 : configured);
    const teardown: Step[] = [];
    const undo = async (): Promise<void> => {
      await runAll(teardown.slice().reverse());
    };
    try {
      const store = await LevelStore.open({
        dataDir: config.dataDir,
        durability: config.durability,
        maxQueuedMessages: config.mqtt.maxQueuedMessages,
      });
      teardown.push(() => store.close());
      log.info({ dataDir: config.dataDir, durability: config.durability }, 'store open');

      const router = new Router();
      const queues = new Queues({ backend: store.queues, catalog: catalogOf(store), router, defaults: config.queueDefaults });
      await queues.start();
      await declareQueues(queues, config.queues);

      const ports: { mqtt?: number; stomp?: number } = {};
      if (config.mqtt.port !== 0) {
        const engine: Aedes = await createMqttEngine({
          config: config.mqtt,
          allowAnonymous: config.auth.allowAnonymous,
          router,
          persistence: new AedesLevelPersistence(store),
          log,
        });
        let listener: MqttListener | undefined;
        teardown.push(async () => {
          void listener?.stopAccepting();
          await closeMqttEngine(engine);
          await listener?.close();
        });
        listener = await MqttListener.listen(engine, config.mqtt.host, portFor(config.mqtt.port));
        ports.mqtt = listener.port;
        log.info({ proto: 'mqtt', endpoint: `mqtt://${config.mqtt.host}:${listener.port}` }, 'listening');
      }
      if (config.stomp.port !== 0) {
        const { port: configuredPort, host, ...stompOptions } = config.stomp;
        const listener = await StompListener.listen({
          host,
          port: portFor(configuredPort),
          router,
          queues,
          log,
          // Both protocols refuse the same topics.
          options: { ...stompOptions, topicLimits: { ...DEFAULT_TOPIC_LIMITS, maxTopicLevels: config.mqtt.maxTopicLevels } },
        });
        teardown.push(() => listener.close());
        ports.stomp = listener.port;
        log.info({ proto: 'stomp', endpoint: `stomp://${host}:${listener.port}` }, 'listening');
      }
      return new Broker({ ports, router, queues, store }, log, teardown);
    } catch (err) {
      await undo().catch(() => undefined);
      throw err;
    }
  }

  /** Stops listeners, disconnects clients, flushes and closes the store. Idempotent. */
  close(): Promise<void> {
    return (this.#closing ??= this.#shutdown());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(): Promise<void> {
    await runAll(this.#teardown.slice().reverse());
    this.#log.info('closed');
  }
}

/** Opens the queues the config declares and binds their filters (re-made at every start). */
async function declareQueues(queues: Queues, declared: RoostConfig['queues']): Promise<void> {
  for (const { name, bind, ...settings } of declared) {
    // Unset keys take queueDefaults.
    const set = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as Partial<QueueSettings>;
    await queues.open(name, set);
    for (const filter of bind) await queues.bind(name, filter);
  }
}

/** The store's catalog, typed as the queue registry reads it. */
function catalogOf(store: LevelStore): QueueCatalog {
  const catalog = store.catalog;
  return {
    queues: () => catalog.queues() as ReadonlyMap<string, Partial<QueueSettings>>,
    putQueue: (name, settings) => catalog.putQueue(name, { ...settings }),
    deleteQueue: (name) => catalog.deleteQueue(name),
    bindings: () => catalog.bindings(),
    putBinding: (queue, filter) => catalog.putBinding(queue, filter),
    deleteBinding: (queue, filter) => catalog.deleteBinding(queue, filter),
  };
}

/** Runs every step in order; throws one AggregateError naming every failure. */
async function runAll(steps: Step[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'broker did not close cleanly');
}
