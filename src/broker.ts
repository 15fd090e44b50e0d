import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import type { RoostConfig, SlowConsumerConfig } from './config/types.js';
import { ConnectionGate } from './core/connection-gate.js';
import { offlineSharedChooser } from './core/shared-offline.js';
import { StoreWatermark, type StoreProbes } from './core/store-limit.js';
import { Router, type RouterOptions } from './core/router.js';
import { DEFAULT_TOPIC_LIMITS } from './core/topic.js';
import { Queues } from './core/queues.js';
import type { QueueSettings } from './core/queue.js';
import { AedesLevelPersistence, LevelStore } from './store/index.js';
import { createMqttEngine, closeMqttEngine } from '../protocols/mqtt/engine.js';
import { MqttListener } from '../protocols/mqtt/listener.js';
// STOMP, WebSocket and TLS are loaded only when a listener needs them (see
// start()): an MQTT-only broker on a small machine starts without them.
import type { StompListener } from '../protocols/stomp/listener.js';
import type { TlsContext } from '../protocols/shared/tls.js';
import type { HttpListener } from '../protocols/websocket/listener.js';
import { createAuthorizer, type Authorizer } from './auth/index.js';

/** Bound ports of the running listeners; absent when a listener is disabled. */
export interface BrokerPorts {
  readonly mqtt?: number;
  readonly stomp?: number;
  /** HTTP: MQTT and STOMP over WebSocket, `/healthz`. */
  readonly http?: number;
  /** MQTT over TLS; only with `tls.cert` and `tls.key`. */
  readonly mqtts?: number;
  /** STOMP over TLS; only with `tls.cert` and `tls.key`. */
  readonly stomps?: number;
  /** HTTPS: wss and `/healthz`; only with `tls.cert` and `tls.key`. */
  readonly https?: number;
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
  readonly #tls: TlsContext | undefined;
  readonly #authorizer: Authorizer;
  #closing: Promise<void> | undefined;

  private constructor(
    parts: { ports: BrokerPorts; router: Router; queues: Queues; store: LevelStore; tls: TlsContext | undefined; authorizer: Authorizer },
    log: Logger,
    teardown: Step[],
  ) {
    this.ports = parts.ports;
    this.router = parts.router;
    this.queues = parts.queues;
    this.store = parts.store;
    this.#tls = parts.tls;
    this.#authorizer = parts.authorizer;
    this.#log = log;
    this.#teardown = teardown;
  }

  /** @throws RoostError LISTEN_ADDRESS_IN_USE | LISTEN_FAILED | STORE_LOCKED | STORE_CORRUPT | STORE_UNWRITABLE | STORE_VERSION_UNSUPPORTED | TLS_FILE_UNREADABLE | TLS_INVALID */
  static async start(config: RoostConfig, log: Logger, options: BrokerStartOptions = {}): Promise<Broker> {
    const startedAtMs = Date.now();
    const portFor = (configured: number): number => (options.ephemeralPorts ? 0 : configured);
    const { cert, key } = config.tls;
    // Read before anything opens: a missing key file is a start failure, not a half-started broker.
    const tls = cert !== undefined && key !== undefined ? (await import('../protocols/shared/tls.js')).TlsContext.load({ ...config.tls, cert, key }) : undefined;
    // Without a certificate the TLS listeners do not exist, whatever their ports say.
    const tlsPorts = {
      mqtt: tls === undefined ? 0 : config.tls.mqttPort,
      stomp: tls === undefined ? 0 : config.tls.stompPort,
      https: tls === undefined ? 0 : config.tls.httpsPort,
    };
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

      // One count of connections for every listener; limits in docs/limits.md.
      const { limits } = config;
      const gate = new ConnectionGate(limits);
      const publishLimits = { publishesPerSecond: limits.publishesPerSecond, publishBurst: limits.publishBurst };
      const storeWatermark = new StoreWatermark({
        limits,
        probes: storeProbes(config.dataDir),
        onChange: (reason) => {
          if (reason === undefined) log.info('store below its limits again: persistent messages accepted');
          else log.warn({ reason }, 'store limit reached: new persistent messages are refused');
        },
      });
      await storeWatermark.start();
      teardown.push(async () => storeWatermark.stop());

      const authorizer = await createAuthorizer(config.auth, { log });
      teardown.push(() => authorizer.close());

      const router = new Router(routerOptions(limits.slowConsumer, log));
      const queues = new Queues({ backend: store.queues, catalog: store.catalog, router, defaults: config.queueDefaults });
      await queues.start();
      await declareQueues(queues, config.queues);

      const ports: { -readonly [K in keyof BrokerPorts]: BrokerPorts[K] } = {};
      const httpPorts = [config.http.port, tlsPorts.https].filter((port) => port !== 0);
      let engine: Aedes | undefined;
      let mqttListeners: readonly MqttListener[] = [];
      // The engine serves every MQTT endpoint: TCP, TLS, and /mqtt on the HTTP listeners.
      if (config.mqtt.port !== 0 || tlsPorts.mqtt !== 0 || httpPorts.length > 0) {
        const started: Aedes = await createMqttEngine({
          config: config.mqtt,
          authorizer,
          router,
          persistence: new AedesLevelPersistence(store, {
            chooseShared: offlineSharedChooser((group, filter) => router.hasSharedSubscriber(group, filter)),
          }),
          log,
          limits,
          storeWatermark,
        });
        engine = started;
        const listeners: MqttListener[] = [];
        // At shutdown the step registered after the HTTP listeners has closed the engine already;
        // this one still does when a later step of start() fails.
        teardown.push(async () => {
          for (const listener of listeners) void listener.stopAccepting();
          await closeMqttEngine(started);
          await runAll(listeners.map((listener) => () => listener.close()));
        });
        mqttListeners = listeners;
        const { host } = config.mqtt;
        if (config.mqtt.port !== 0) {
          const listener = await MqttListener.listen(started, host, portFor(config.mqtt.port), undefined, gate);
          listeners.push(listener);
          ports.mqtt = listener.port;
          log.info({ proto: 'mqtt', endpoint: endpoint('mqtt', host, listener.port) }, 'listening');
        }
        if (tlsPorts.mqtt !== 0) {
          const listener = await MqttListener.listen(started, host, portFor(tlsPorts.mqtt), tls, gate);
          listeners.push(listener);
          ports.mqtts = listener.port;
          log.info({ proto: 'mqtt', endpoint: endpoint('mqtts', host, listener.port) }, 'listening');
        }
      }

      const stompPorts = (
        [
          [config.stomp.port, 'stomp'],
          [tlsPorts.stomp, 'stomp+ssl'],
        ] as const
      ).filter(([configured]) => configured !== 0);
      const stomp = stompPorts.length > 0 || httpPorts.length > 0 ? await loadStomp(config, authorizer) : undefined;
      const stompListeners: StompListener[] = [];
      const httpListeners: HttpListener[] = [];
      if (stomp !== undefined) {
        const stompHost = config.stomp.host;
        for (const [configured, scheme] of stompPorts) {
          const secure = scheme === 'stomp+ssl';
          const listener = await stomp.StompListener.listen({
            host: stompHost,
            port: portFor(configured),
            router,
            queues,
            log,
            options: stomp.options,
            authenticate: stomp.authenticate,
            gate,
            publishLimits,
            storeWatermark,
            ...(secure && tls !== undefined ? { tls } : {}),
          });
          teardown.push(() => listener.close());
          stompListeners.push(listener);
          if (secure) ports.stomps = listener.port;
          else ports.stomp = listener.port;
          log.info({ proto: 'stomp', endpoint: endpoint(scheme, stompHost, listener.port) }, 'listening');
        }

        const counts = () => {
          let stompCount = 0;
          for (const listener of stompListeners) stompCount += listener.connectionCount;
          for (const listener of httpListeners) stompCount += listener.counts.stomp;
          return { mqtt: engine?.connectedClients ?? 0, stomp: stompCount };
        };
        if (httpPorts.length > 0) {
          const { HttpListener } = await import('../protocols/websocket/listener.js');
          for (const [configured, secure] of [
            [config.http.port, false],
            [tlsPorts.https, true],
          ] as const) {
            if (configured === 0) continue;
            const { host, mqttPath, stompPath } = config.http;
            const listener = await HttpListener.listen({
              host,
              port: portFor(configured),
              ...(secure ? { tls } : {}),
              mqttPath,
              stompPath,
              maxPayloadBytes: config.http.maxPayloadBytes,
              drainTimeoutMs: config.http.drainTimeoutMs,
              mqtt: engine,
              stomp: { router, queues, log, options: stomp.options, authenticate: stomp.authenticate, publishLimits, storeWatermark },
              gate,
              counts,
              startedAtMs,
              log,
            });
            teardown.push(() => listener.close());
            httpListeners.push(listener);
            if (secure) ports.https = listener.port;
            else ports.http = listener.port;
            const [ws, web] = secure ? ['wss', 'https'] : ['ws', 'http'];
            log.info({ proto: 'mqtt', endpoint: endpoint(ws, host, listener.port, mqttPath) }, 'listening');
            log.info({ proto: 'stomp', endpoint: endpoint(ws, host, listener.port, stompPath) }, 'listening');
            log.info({ proto: web, endpoint: endpoint(web, host, listener.port, '/healthz') }, 'listening');
          }
        }
      }
      if (engine !== undefined) {
        const started = engine;
        // Runs before any listener closes (teardown runs in reverse): every MQTT
        // client, over TCP, TLS or WebSocket, is told while its connection is
        // still there (v5: DISCONNECT 0x8B; a WebSocket then closes with 1001).
        teardown.push(async () => {
          for (const listener of [...mqttListeners, ...httpListeners]) void listener.stopAccepting();
          for (const listener of httpListeners) listener.shuttingDown();
          await closeMqttEngine(started);
        });
      }
      return new Broker({ ports, router, queues, store, tls, authorizer }, log, teardown);
    } catch (err) {
      await undo().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Re-reads `tls.cert`, `tls.key` and `tls.ca` and uses them for every new
   * handshake on every TLS listener; open connections keep theirs. Returns
   * false when TLS is not configured. On a bad file the previous certificate
   * stays in force.
   * @throws RoostError TLS_FILE_UNREADABLE | TLS_INVALID
   */
  reloadTls(): boolean {
    if (this.#tls === undefined) return false;
    this.#tls.reload();
    this.#log.info('tls certificates reloaded');
    return true;
  }

  /**
   * Re-reads the users file (a bad file keeps the current users and logs why);
   * the users file is also watched, this is for SIGHUP.
   */
  async reloadUsers(): Promise<void> {
    await this.#authorizer.reload();
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

/** Each subscriber's buffer and the slow-consumer policy (docs/limits.md); the router reports at most once per interval and consumer. */
function routerOptions(slow: SlowConsumerConfig, log: Logger): RouterOptions {
  return {
    maxPendingPerTarget: slow.maxPendingMessages,
    maxPendingBytesPerTarget: slow.maxPendingBytes,
    slowConsumerPolicy: slow.policy,
    slowConsumerTimeoutMs: slow.timeoutMs,
    onSlowConsumer: (event) => {
      const who = event.target.consumer;
      if (event.kind === 'disconnect') {
        log.info({ ...who, pending: event.pending, reason: event.reason }, 'slow consumer: disconnecting');
      } else if (event.dropped > 0) {
        log.warn({ ...who, dropped: event.dropped, leftInStore: event.leftInStore }, 'slow consumer: messages past its buffer dropped');
      } else {
        log.info({ ...who, leftInStore: event.leftInStore }, 'slow consumer: messages past its buffer left in the store');
      }
    },
  };
}

/** `scheme://host:port/path`, with an IPv6 host in brackets. */
function endpoint(scheme: string, host: string, port: number, path = ''): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
}

/** Free space under `dataDir` (what an unprivileged process may use) and the bytes of the files in it. */
function storeProbes(dataDir: string): StoreProbes {
  return {
    async freeBytes() {
      const fs = await statfs(dataDir);
      return fs.bavail * fs.bsize;
    },
    async storeBytes() {
      let total = 0;
      for (const entry of await readdir(dataDir, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile()) continue;
        // A file LevelDB compacts away between the listing and the stat is simply not counted.
        const size = await stat(join(entry.parentPath, entry.name)).then((s) => s.size, () => 0);
        total += size;
      }
      return total;
    },
  };
}

/** STOMP's listener, its options and its login: loaded once a STOMP or HTTP listener is configured. */
async function loadStomp(config: RoostConfig, authorizer: Authorizer) {
  const [{ StompListener, resolveStompListenerOptions }, { stompAuthenticate }] = await Promise.all([
    import('../protocols/stomp/listener.js'),
    import('../protocols/stomp/auth.js'),
  ]);
  const { port: _port, host: _host, ...settings } = config.stomp;
  return {
    StompListener,
    // Both protocols refuse the same topics.
    options: resolveStompListenerOptions({ ...settings, topicLimits: { ...DEFAULT_TOPIC_LIMITS, maxTopicLevels: config.mqtt.maxTopicLevels } }),
    authenticate: stompAuthenticate(authorizer),
  };
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
