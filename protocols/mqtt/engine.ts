import type { EventEmitter } from 'node:events';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import type { Logger } from 'pino';
import type { LimitsConfig, MqttConfig } from '../../src/config/types.js';
import type { ConnectionRefusal } from '../../src/core/connection-gate.js';
import { hasCode } from '../../src/core/errors.js';
import { PublishLimiter } from '../../src/core/rate-limit.js';
import type { StoreWatermark } from '../../src/core/store-limit.js';
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
  /** Publish rate and subscription limits (docs/limits.md); none when absent. */
  readonly limits?: Pick<LimitsConfig, 'publishesPerSecond' | 'publishBurst' | 'maxSubscriptionsPerClient'>;
  /** While it refuses, QoS 1/2 publishes are refused (docs/limits.md). */
  readonly storeWatermark?: StoreWatermark;
}

/**
 * Connections the shared ConnectionGate refused, by socket: the listener
 * still hands them to the engine so the refusal is a CONNACK, which the
 * `authenticate` hook sends.
 */
const refusedConnections = new WeakMap<object, ConnectionRefusal>();

/** Marks `conn` (the stream the engine is handed) to be refused at CONNECT for `reason`. */
export function refuseAtConnect(conn: object, reason: ConnectionRefusal): void {
  refusedConnections.set(conn, reason);
}

/** CONNACK return codes (aedes maps them to v5 reason codes 0x85, 0x86, 0x87). */
const IDENTIFIER_REJECTED = 2;
const BAD_CREDENTIALS = 4;
const NOT_AUTHORIZED = 5;
// 3.1.1 has no code for a limit: "Server unavailable" is the nearest. [MQTT-3.2.2.3]
const SERVER_UNAVAILABLE = 3;

/** MQTT 5 reason codes of the limits. */
const QUOTA_EXCEEDED = 0x97;
const MESSAGE_RATE_TOO_HIGH = 0x96;
const CONNECTION_RATE_EXCEEDED = 0x9f;
const SERVER_BUSY = 0x89;

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
  const limits = options.limits;
  const watermark = options.storeWatermark;
  const publishLimiters = new WeakMap<Client, PublishLimiter>();
  const overPublishRate = (client: Client): boolean => {
    if (limits === undefined || limits.publishesPerSecond === 0) return false;
    let limiter = publishLimiters.get(client);
    if (limiter === undefined) {
      limiter = new PublishLimiter(limits);
      publishLimiters.set(client, limiter);
    }
    return !limiter.admit();
  };
  // Filters each client was granted, until it unsubscribes them: aedes adds a
  // grant to client.subscriptions only after the whole SUBSCRIBE is authorized.
  const granted = new WeakMap<Client, Set<string>>();
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
      const refusal = refusedConnections.get(client.conn);
      if (refusal !== undefined) {
        const reasonCode = refusal === 'connection-rate' ? CONNECTION_RATE_EXCEEDED : QUOTA_EXCEEDED;
        if (log.isLevelEnabled('info')) log.info({ proto: 'mqtt', clientId: client.id, reason: refusal }, 'connection refused: limit');
        done(Object.assign(refuse(`connection refused: ${refusal}`, SERVER_UNAVAILABLE), { reasonCode }) as unknown as AuthError, false);
        return;
      }
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
          // TCP and TLS: the socket; WebSocket: the upgrade request's socket.
          remoteAddress: (client.conn as { remoteAddress?: string }).remoteAddress ?? client.req?.socket.remoteAddress,
        })
        .then((result) => {
          if (result.ok) {
            sessions.set(client, result.user);
            done(null, true);
          } else if (result.reason === 'bad-credentials') {
            done(refuse('bad user name or password', BAD_CREDENTIALS) as AuthError, false);
          } else if (result.reason === 'busy' || result.reason === 'throttled') {
            const reasonCode = result.reason === 'busy' ? SERVER_BUSY : CONNECTION_RATE_EXCEEDED;
            const message = result.reason === 'busy' ? 'too many logins waiting' : 'too many failed logins';
            done(Object.assign(refuse(message, SERVER_UNAVAILABLE), { reasonCode }) as unknown as AuthError, false);
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
      // A will is published as its client goes: it is not the client publishing.
      if (client && !client.closed && overPublishRate(client)) {
        if (log.isLevelEnabled('info')) log.info({ proto: 'mqtt', clientId: client.id }, 'publish rate exceeded; disconnecting');
        if (client.version === 5) {
          // MQTT 5 defines 0x96 for DISCONNECT only, not for PUBACK: the message is dropped, the connection ended.
          (packet as { _notAuthorized?: boolean })._notAuthorized = true;
          client.disconnect({ reasonCode: MESSAGE_RATE_TOO_HIGH }, () => undefined);
          done(null);
        } else {
          done(new Error('publish rate exceeded'));
        }
        return;
      }
      const session = client ? sessions.get(client) : undefined;
      // Publishes with no client are the broker's own (wills swept at start carry theirs).
      if (session === undefined || authorizer.canPublish(session, packet.topic)) {
        const full = client && !client.closed && packet.qos > 0 ? watermark?.refusal : undefined;
        if (full === undefined) {
          done(null);
          return;
        }
        if (log.isLevelEnabled('info')) log.info({ proto: 'mqtt', clientId: client?.id, reason: full }, 'persistent publish refused: store full');
        // v5: PUBACK/PUBREC 0x97 (see the aedes patch); 3.1.1 has no code, so the connection is closed unacknowledged.
        done(Object.assign(new Error(`quota exceeded: ${full}`), { reasonCode: QUOTA_EXCEEDED }));
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
        if (client === null || limits === undefined) {
          done(null, sub);
          return;
        }
        let mine = granted.get(client);
        if (mine === undefined) {
          mine = new Set();
          granted.set(client, mine);
        }
        const held = (client as unknown as { subscriptions: Record<string, unknown> }).subscriptions;
        if (!mine.has(sub.topic) && !(sub.topic in held)) {
          let count = mine.size;
          for (const filter in held) if (!mine.has(filter)) count++;
          if (count >= limits.maxSubscriptionsPerClient) {
            if (log.isLevelEnabled('info')) log.info({ proto: 'mqtt', clientId: client.id, filter: sub.topic }, 'subscribe refused: subscription limit');
            // SUBACK 0x97 on v5, 0x80 on 3.1.1 (see the aedes patch).
            done(null, Object.assign({}, sub, { refusalReasonCode: QUOTA_EXCEEDED }));
            return;
          }
        }
        mine.add(sub.topic);
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
  engine.on('unsubscribe', (filters, client) => {
    const mine = client ? granted.get(client) : undefined;
    if (mine !== undefined) for (const filter of filters) mine.delete(filter);
  });
  engine.on('clientDisconnect', (client) => {
    if (log.isLevelEnabled('info')) log.info(fields(client), 'disconnected');
  });
  engine.on('clientError', (client, err) => {
    if (log.isLevelEnabled('debug')) log.debug({ ...fields(client), reason: err.message }, 'client error');
  });
  engine.on('clientError', (client, err) => {
    // A write the store refused (a full disk) is the operator's problem, not the client's.
    if (hasCode(err, 'STORE_UNWRITABLE')) log.error({ ...fields(client), err }, 'publish not stored');
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
