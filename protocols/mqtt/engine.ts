import type { EventEmitter } from 'node:events';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import type { Logger } from 'pino';
import type { MqttConfig } from '../../src/config/types.js';
import type { Router } from '../../src/core/router.js';
import type { AuthSession, Authorizer } from '../../src/auth/index.js';
import { clientCertificateCn } from '../shared/tls.js';
import { routerAsMq } from './router-mq.js';

export interface MqttEngineOptions {
  readonly config: MqttConfig;
  /** The one auth decision layer every protocol shares. */
  readonly authorizer: Authorizer;
  readonly router: Router;
  /** An aedes async persistence; Roost passes its LevelDB store's adapter. */
  readonly persistence: NonNullable<AedesOptions['persistence']>;
  readonly log: Logger;
}

/** CONNACK return codes (aedes maps them to v5 reason codes 0x85, 0x86, 0x87). */
const IDENTIFIER_REJECTED = 2;
const BAD_CREDENTIALS = 4;
const NOT_AUTHORIZED = 5;

/** aedes' `$SYS` prefix: internal publishes carry no client, and only the broker writes there. */
const SYS_PREFIX = '$SYS/';

/**
 * Builds the MQTT protocol engine: aedes with the core Router as its message
 * bus and the store as its persistence. aedes owns the MQTT wire protocol;
 * Roost decides routing and durability.
 */
export async function createMqttEngine(options: MqttEngineOptions): Promise<Aedes> {
  const { config, log, authorizer } = options;
  // What each connected client was authenticated as; gone with the client.
  const sessions = new WeakMap<Client, AuthSession>();
  const refuse = (message: string, returnCode: number): Error => Object.assign(new Error(message), { returnCode });
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
    authenticate(client, username, password, done) {
      type AuthError = Parameters<typeof done>[0];
      // aedes checks the identifier length only for MQTT 3.1; apply it to every version.
      if (client.id.length > config.maxClientIdLength) {
        done(refuse(`client identifier longer than ${config.maxClientIdLength}`, IDENTIFIER_REJECTED) as AuthError, false);
        return;
      }
      const certificateCn = clientCertificateCn(client.conn);
      authorizer
        .authenticate({
          username,
          password,
          clientId: client.id,
          protocol: 'mqtt',
          ...(certificateCn === undefined ? {} : { certificateCn }),
        })
        .then((result) => {
          if (result.ok) {
            sessions.set(client, result.user);
            done(null, true);
          } else if (result.reason === 'bad-credentials') {
            done(refuse('bad user name or password', BAD_CREDENTIALS) as AuthError, false);
          } else {
            done(refuse('not authorized', NOT_AUTHORIZED) as AuthError, false);
          }
        }, (err: Error) => done(err as AuthError, false));
    },
    authorizePublish(client, packet, done) {
      if (packet.topic.startsWith(SYS_PREFIX)) {
        done(new Error('$SYS topics are written by the broker only'));
        return;
      }
      const session = client ? sessions.get(client) : undefined;
      // Publishes with no client are the broker's own (wills swept at start carry theirs).
      if (session === undefined || authorizer.canPublish(session, packet.topic)) {
        done(null);
        return;
      }
      if (log.isLevelEnabled('info')) log.info({ proto: 'mqtt', clientId: client?.id, topic: packet.topic }, 'publish denied');
      if (client && client.version < 5) {
        // 3.1.1 has no reason code: the publish is acknowledged and dropped (see the aedes patch).
        (packet as { _notAuthorized?: boolean })._notAuthorized = true;
        done(null);
        return;
      }
      done(new Error(`not authorized to publish to ${packet.topic}`));
    },
    authorizeSubscribe(client, sub, done) {
      const session = client ? sessions.get(client) : undefined;
      if (session === undefined || authorizer.canSubscribe(session, sub.topic)) {
        done(null, sub);
        return;
      }
      if (log.isLevelEnabled('info')) log.info({ proto: 'mqtt', clientId: client?.id, filter: sub.topic }, 'subscribe denied');
      // A null grant is SUBACK 0x87 on v5, 0x80 on 3.1.1.
      done(null, null);
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
