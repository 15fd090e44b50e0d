/**
 * The validated, frozen configuration every part of the broker reads.
 * `src/config/schema.ts` is the one source of truth for keys, defaults and
 * checks; this file only names the resulting shape.
 */

export type Durability = 'os' | 'fsync';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface MqttConfig {
  /** TCP port; 0 disables the listener. */
  readonly port: number;
  /** Interface to bind; defaults to the top-level `host`. */
  readonly host: string;
  /** Largest packet accepted from a client, bytes (advertised in CONNACK to v5 clients). */
  readonly maxPacketBytes: number;
  /** Offline messages kept per persistent session; past it the oldest is dropped and counted. */
  readonly maxQueuedMessages: number;
  /** QoS 1/2 publishes a client may have unacknowledged towards the broker (v5 Receive Maximum). */
  readonly receiveMaximum: number;
  /** Highest topic alias a v5 client may use; 0 disables aliases. */
  readonly topicAliasMaximum: number;
  /** Longest session expiry a v5 client may ask for, seconds; 0 means no cap. */
  readonly maxSessionExpirySeconds: number;
  /** Longest keepalive accepted, seconds; 0 means no cap. */
  readonly maxKeepaliveSeconds: number;
  /** Time a new connection has to send CONNECT, ms. */
  readonly connectTimeoutMs: number;
  /** Time a client whose socket is full has to drain before it is disconnected, ms. */
  readonly drainTimeoutMs: number;
  /** Longest client identifier accepted, characters. */
  readonly maxClientIdLength: number;
  /** Deepest topic accepted, levels. */
  readonly maxTopicLevels: number;
}

export interface StompConfig {
  /** TCP port; 0 disables the listener. */
  readonly port: number;
  readonly host: string;
  /** Smallest interval the broker sends heart-beats at, ms; 0 sends none. */
  readonly heartbeatSendMs: number;
  /** Interval the broker wants the client's heart-beats at, ms; 0 wants none. */
  readonly heartbeatReceiveMs: number;
  readonly connectTimeoutMs: number;
  readonly drainTimeoutMs: number;
  /** Read and write `/topic/a.b.c` (with `*` and `>`) as MQTT `a/b/c`. */
  readonly dottedTopics: boolean;
  /** Unacknowledged queue deliveries per subscription when the client names none. */
  readonly defaultPrefetch: number;
  readonly maxPrefetch: number;
  readonly maxSubscriptions: number;
  readonly maxFrameBytes: number;
  readonly maxHeaders: number;
  readonly maxHeaderLineBytes: number;
  readonly maxBodyBytes: number;
}

export interface HttpConfig {
  /** HTTP port for WebSocket (`ws://`) and `/healthz`; 0 disables the listener. */
  readonly port: number;
  readonly host: string;
  /** Path of MQTT over WebSocket. */
  readonly mqttPath: string;
  /** Path of STOMP over WebSocket. */
  readonly stompPath: string;
  /** Largest WebSocket message accepted, bytes. */
  readonly maxPayloadBytes: number;
  /** Time a WebSocket client that stopped reading has to drain before it is closed (1008), ms. */
  readonly drainTimeoutMs: number;
}

export interface TlsConfig {
  /** PEM certificate chain file; with `key`, turns the TLS listeners on. */
  readonly cert?: string | undefined;
  /** PEM private key file. */
  readonly key?: string | undefined;
  /** PEM CA file client certificates must chain to (mutual TLS). */
  readonly ca?: string | undefined;
  /** Require a client certificate signed by `ca`; others fail the handshake. */
  readonly requestClientCert: boolean;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** MQTT over TLS port; 0 disables it. Binds `mqtt.host`. */
  readonly mqttPort: number;
  /** STOMP over TLS port; 0 disables it. Binds `stomp.host`. */
  readonly stompPort: number;
  /** HTTPS port (`wss://`, `/healthz`); 0 disables it. Binds `http.host`. */
  readonly httpsPort: number;
}

export type OverflowPolicy = 'drop-oldest' | 'reject';

export interface QueueDefaultsConfig {
  readonly maxLength: number;
  readonly overflow: OverflowPolicy;
  readonly ttlMs: number;
  readonly maxDeliveries: number;
}

export interface QueueConfig {
  readonly name: string;
  /** Topic filters whose messages, from any protocol, land in this queue. */
  readonly bind: string[];
  readonly maxLength?: number | undefined;
  readonly overflow?: OverflowPolicy | undefined;
  readonly ttlMs?: number | undefined;
  readonly maxDeliveries?: number | undefined;
  readonly deadLetter?: string | null | undefined;
}

/** What one ACL rule allows or denies; each list holds patterns (see docs/auth.md). */
export interface AclActionsConfig {
  /** MQTT topic filters a client may (not) publish to; `%u` and `%c` are substituted. */
  readonly publish?: string[] | undefined;
  /** MQTT topic filters covering the filters a client may (not) subscribe to. */
  readonly subscribe?: string[] | undefined;
  /** Queue names, `*` matching any run of characters, a client may (not) send to (`/queue/<name>`). */
  readonly produce?: string[] | undefined;
  /** Queue names or `*` patterns a client may (not) consume from. */
  readonly consume?: string[] | undefined;
}

/**
 * One ACL rule: exactly one of `allow` and `deny`, and who it applies to.
 * With neither `users`, `groups` nor `anonymous` it applies to every client.
 */
export interface AclRuleConfig {
  readonly allow?: AclActionsConfig | undefined;
  readonly deny?: AclActionsConfig | undefined;
  /** User names the rule applies to. */
  readonly users?: string[] | undefined;
  /** Groups (from the users file) the rule applies to. */
  readonly groups?: string[] | undefined;
  /** true: only clients without credentials; false: only authenticated ones. */
  readonly anonymous?: boolean | undefined;
}

export interface AuthConfig {
  /** YAML users file (`roost passwd`), relative to the working directory; unset: no user accounts. */
  readonly usersFile?: string | undefined;
  /** Clients without credentials are let in. */
  readonly allowAnonymous: boolean;
  /** With mutual TLS, the client certificate's CN is the user name and no password is asked. */
  readonly useCertificateCnAsUsername: boolean;
  /** Rules in order, the first that matches decides; empty: everything but publishing to `$SYS` is allowed. */
  readonly acl: AclRuleConfig[];
  /** Password checks (scrypt) running at once. */
  readonly maxConcurrentPasswordChecks: number;
  /** Logins waiting for a password check; past it a login is refused as server busy. */
  readonly maxQueuedPasswordChecks: number;
  /** Failed logins of one user name from one address within `loginFailureWindowMs` that start a back-off; 0: none. */
  readonly maxLoginFailures: number;
  readonly loginFailureWindowMs: number;
  /** How long that user name is refused from that address, ms. */
  readonly loginBackoffMs: number;
}

/** What happens to a subscriber that falls behind (docs/limits.md). */
export interface SlowConsumerConfig {
  /** `drop`: past its buffer, messages to it are dropped (counted); `disconnect`: it is also disconnected after `timeoutMs`. */
  readonly policy: 'drop' | 'disconnect';
  /** Messages waiting for one subscriber (its buffer) past which the policy applies. */
  readonly maxPendingMessages: number;
  /** Bytes (payloads and topic names) waiting for one subscriber past which the policy applies; one message of any size always fits an empty buffer. */
  readonly maxPendingBytes: number;
  /** `disconnect`: how long a subscriber may stay behind (past its buffer, not caught up) before it is disconnected, ms. */
  readonly timeoutMs: number;
}

/** Broker-wide limits; each is answered in the protocol's own way (docs/limits.md). */
export interface LimitsConfig {
  /** Connections open at once, every protocol and transport together. */
  readonly maxConnections: number;
  /** Connections open at once from one IP address. */
  readonly maxConnectionsPerIp: number;
  /** New connections one IP address may open per second (a token bucket of that size); 0: no limit. */
  readonly connectionsPerIpPerSecond: number;
  /** PUBLISH / SEND frames one connection may send per second, sustained; 0: no limit. */
  readonly publishesPerSecond: number;
  /** PUBLISH / SEND frames one connection may send at once above the sustained rate. */
  readonly publishBurst: number;
  /** Subscriptions one MQTT client may hold (STOMP: stomp.maxSubscriptions). */
  readonly maxSubscriptionsPerClient: number;
  /** Below this much free disk under dataDir, new persistent messages are refused, bytes; 0: no floor. */
  readonly diskMinFreeBytes: number;
  /** Above this store size, new persistent messages are refused, bytes; 0: no cap. */
  readonly storeMaxBytes: number;
  readonly slowConsumer: SlowConsumerConfig;
}

export interface RoostConfig {
  /** Directory holding the LevelDB store; created if missing. */
  readonly dataDir: string;
  /** `os`: a write survives a process crash; `fsync`: it survives power loss too. */
  readonly durability: Durability;
  /** Default interface for every listener. */
  readonly host: string;
  readonly log: { readonly level: LogLevel; readonly pretty: boolean };
  readonly auth: AuthConfig;
  readonly mqtt: MqttConfig;
  readonly stomp: StompConfig;
  readonly http: HttpConfig;
  readonly tls: TlsConfig;
  readonly queueDefaults: QueueDefaultsConfig;
  readonly queues: QueueConfig[];
  readonly limits: LimitsConfig;
}
