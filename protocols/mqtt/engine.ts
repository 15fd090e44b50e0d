import type { EventEmitter } from 'node:events';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import type { Logger } from 'pino';
import type { MqttConfig } from '../../src/config/types.js';
import type { Router } from '../../src/core/router.js';
import { routerAsMq } from './router-mq.js';

export interface MqttEngineOptions {
  readonly config: MqttConfig;
  readonly allowAnonymous: boolean;
  readonly router: Router;
  /** An aedes async persistence; Roost passes its LevelDB store's adapter. */
  readonly persistence: NonNullable<AedesOptions['persistence']>;
  readonly log: Logger;
}

/** CONNACK return code 2 / reason 0x85: client identifier not valid. */
const IDENTIFIER_REJECTED = 2;

/**
 * Builds the MQTT protocol engine: aedes with the core Router as its message
 * bus and the store as its persistence. aedes owns the MQTT wire protocol;
 * Roost decides routing and durability.
 */
export async function createMqttEngine(options: MqttEngineOptions): Promise<Aedes> {
  const { config, log } = options;
  const engine = new Aedes({
    mq: routerAsMq(options.router),
    persistence: options.persistence,
    connectTimeout: config.connectTimeoutMs,
    drainTimeout: config.drainTimeoutMs,
    keepaliveLimit: config.maxKeepaliveSeconds,
    maxClientsIdLength: config.maxClientIdLength,
    maxTopicLevels: config.maxTopicLevels,
    topicAliasMaximum: config.topicAliasMaximum,
    maximumPacketSize: config.maxPacketBytes,
    receiveMaximum: config.receiveMaximum,
    sessionExpiryIntervalLimit: config.maxSessionExpirySeconds,
    authenticate(client, _username, _password, done) {
      // aedes checks the identifier length only for MQTT 3.1; apply it to every version.
      if (client.id.length > config.maxClientIdLength) {
        const err = Object.assign(new Error(`client identifier longer than ${config.maxClientIdLength}`), { returnCode: IDENTIFIER_REJECTED });
        done(err as Parameters<typeof done>[0], false);
        return;
      }
      done(null, options.allowAnonymous);
    },
  });

  // Connection events name the client in the line itself: a child logger per
  // event (or per connection) costs an allocation and a JSON serialisation of
  // its bindings even when the level is off.
  const fields = (client: Client | null | undefined): { proto: 'mqtt'; clientId?: string } =>
    client?.id ? { proto: 'mqtt', clientId: client.id } : { proto: 'mqtt' };

  engine.on('clientReady', (client) => {
    if (log.isLevelEnabled('info')) log.info({ ...fields(client), version: client.version, clean: client.clean }, 'connected');
  });
  engine.on('clientDisconnect', (client) => {
    if (log.isLevelEnabled('info')) log.info(fields(client), 'disconnected');
  });
  engine.on('clientError', (client, err) => {
    if (log.isLevelEnabled('debug')) log.debug({ ...fields(client), reason: err.message }, 'client error');
  });
  engine.on('connectionError', (client, err) => {
    if (log.isLevelEnabled('debug')) log.debug({ ...fields(client), reason: err.message }, 'connection rejected');
  });
  engine.on('keepaliveTimeout', (client) => {
    if (log.isLevelEnabled('info')) log.info(fields(client), 'keepalive timeout');
  });
  (engine as EventEmitter).on('error', (err: Error) => log.error({ err }, 'mqtt engine error'));

  await engine.listen();
  return engine;
}

/** Closes the engine: v5 clients get DISCONNECT 0x8B, wills are handled, the bus is released. */
export function closeMqttEngine(engine: Aedes): Promise<void> {
  return new Promise((resolve) => engine.close(() => resolve()));
}
