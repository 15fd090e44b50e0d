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

export interface RoostConfig {
  /** Directory holding the LevelDB store; created if missing. */
  readonly dataDir: string;
  /** `os`: a write survives a process crash; `fsync`: it survives power loss too. */
  readonly durability: Durability;
  /** Default interface for every listener. */
  readonly host: string;
  /** Clients without credentials are let in (no auth configured yet). */
  readonly allowAnonymous: boolean;
  readonly log: { readonly level: LogLevel; readonly pretty: boolean };
  readonly mqtt: MqttConfig;
  readonly stomp: StompConfig;
  readonly queueDefaults: QueueDefaultsConfig;
  readonly queues: QueueConfig[];
}
