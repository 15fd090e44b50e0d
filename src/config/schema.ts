/**
 * The one source of truth for every configuration key: its type, its range
 * and its default. `types.ts` names the resulting shape, `load.ts` feeds it
 * file → env → flags, `keys.ts` derives env and flag names from it, and
 * `config/roost.yaml` is tested against it.
 */
import { z } from 'zod';
import { topicFilterProblem } from '../core/topic.js';
import type { RoostConfig } from './types.js';

const MAX_PORT = 65_535;
// [MQTT-2.2.3] the Remaining Length field tops out at 268,435,455 bytes.
const MQTT_MAX_PACKET_BYTES = 268_435_455;

function port(fallback: number) {
  return z.number().int().min(0).max(MAX_PORT).default(fallback);
}

function integer(min: number, max: number, fallback: number) {
  return z.number().int().min(min).max(max).default(fallback);
}

/** An integer from `min` up, bounded only by what a JavaScript number holds exactly. */
function atLeast(min: number, fallback: number) {
  return z.number().int().min(min).max(Number.MAX_SAFE_INTEGER).default(fallback);
}

const hostname = z.string().min(1);

/**
 * A listener's `host` is optional in the input: when absent it inherits the
 * top-level `host`, so one key moves every listener.
 */
const listenerHost = hostname.optional();

const mqtt = z
  .strictObject({
    port: port(1883),
    host: listenerHost,
    maxPacketBytes: integer(1, MQTT_MAX_PACKET_BYTES, 1_048_576),
    maxQueuedMessages: atLeast(1, 1000),
    // MQTT 5 Receive Maximum is a two-byte integer and 0 is a protocol error.
    receiveMaximum: integer(1, MAX_PORT, 100),
    topicAliasMaximum: integer(0, MAX_PORT, 10),
    maxSessionExpirySeconds: integer(0, 0xffff_ffff, 0),
    maxKeepaliveSeconds: integer(0, MAX_PORT, 0),
    connectTimeoutMs: atLeast(1, 30_000),
    drainTimeoutMs: atLeast(1, 60_000),
    maxClientIdLength: integer(1, MAX_PORT, 256),
    // The MQTT engine (aedes) refuses deeper topics whatever is asked, so 100 is the ceiling.
    maxTopicLevels: integer(1, 100, 100),
  })
  .prefault({});

const stomp = z
  .strictObject({
    port: port(61613),
    host: listenerHost,
    // 0 sends none; the smallest interval the broker beats at, when the client asks for beats.
    heartbeatSendMs: integer(0, 3_600_000, 10_000),
    // 0 wants none; the client is closed after twice this without a beat.
    heartbeatReceiveMs: integer(0, 3_600_000, 10_000),
    connectTimeoutMs: atLeast(1, 30_000),
    drainTimeoutMs: atLeast(1, 60_000),
    dottedTopics: z.boolean().default(false),
    defaultPrefetch: integer(1, 65_535, 100),
    maxPrefetch: integer(1, 1_000_000, 10_000),
    maxSubscriptions: integer(1, 1_000_000, 1_000),
    maxFrameBytes: integer(64, 268_435_456, 1_114_112),
    maxHeaders: integer(1, 65_535, 128),
    maxHeaderLineBytes: integer(16, 1_048_576, 8_192),
    maxBodyBytes: integer(1, 268_435_456, 1_048_576),
  })
  .prefault({});

/** A URL path a WebSocket endpoint is served at. */
const urlPath = z.string().regex(/^\/[\x21-\x7e]*$/, 'a path starting with / (no spaces, no query)').refine((path) => !path.includes('?'), 'a path without a query string');

const http = z
  .strictObject({
    port: port(8080),
    host: listenerHost,
    mqttPath: urlPath.default('/mqtt'),
    stompPath: urlPath.default('/stomp'),
    // Covers the largest default STOMP frame (stomp.maxFrameBytes); MQTT packets may span messages anyway.
    maxPayloadBytes: integer(1, 268_435_456, 1_114_112),
    drainTimeoutMs: atLeast(1, 60_000),
  })
  .prefault({});

/** What happens to a subscriber that falls behind; docs/limits.md. */
const slowConsumer = z
  .strictObject({
    // drop: past its buffer, messages to it are dropped (counted); disconnect: it is also disconnected after timeoutMs.
    policy: z.enum(['drop', 'disconnect']).default('drop'),
    maxPendingMessages: atLeast(1, 10_000),
    maxPendingBytes: atLeast(1, 16_777_216),
    timeoutMs: atLeast(1, 10_000),
  })
  .prefault({});

/** Broker-wide limits; docs/limits.md says how each protocol is answered when one is hit. */
const limits = z
  .strictObject({
    maxConnections: atLeast(1, 10_000),
    maxConnectionsPerIp: atLeast(1, 1_000),
    // 0: no rate limit on new connections.
    connectionsPerIpPerSecond: atLeast(0, 0),
    // 0: no rate limit on PUBLISH / SEND.
    publishesPerSecond: atLeast(0, 0),
    publishBurst: atLeast(1, 100),
    maxSubscriptionsPerClient: atLeast(1, 1_000),
    // 0: no floor on the free disk space under dataDir.
    diskMinFreeBytes: atLeast(0, 0),
    // 0: no cap on the store's size.
    storeMaxBytes: atLeast(0, 0),
    slowConsumer,
  })
  .prefault({});

/** Certificate files shared by every TLS listener; the listeners exist only when `cert` and `key` are set. */
const tls = z
  .strictObject({
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    ca: z.string().min(1).optional(),
    requestClientCert: z.boolean().default(false),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    mqttPort: port(8883),
    stompPort: port(61614),
    httpsPort: port(8443),
  })
  .superRefine((section, ctx) => {
    if ((section.cert === undefined) !== (section.key === undefined)) {
      const missing = section.cert === undefined ? 'cert' : 'key';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'cert and key are set together (both unset: no TLS listener)', input: undefined });
    }
    if (section.requestClientCert && section.ca === undefined) {
      ctx.addIssue({ code: 'custom', path: ['ca'], message: 'requestClientCert needs the CA that signs client certificates', input: undefined });
    }
  })
  .prefault({});

const overflow = z.enum(['drop-oldest', 'reject']);

/** Settings every named queue starts from; a queue entry in `queues` overrides them. */
const queueDefaults = z
  .strictObject({
    maxLength: atLeast(1, 100_000),
    overflow: overflow.default('drop-oldest'),
    ttlMs: atLeast(0, 0),
    maxDeliveries: atLeast(0, 0),
  })
  .prefault({});

/** A durable queue declared at start, optionally fed by topic filters from any protocol. */
const queue = z.strictObject({
  name: z.string().min(1),
  bind: z.array(z.string().min(1)).default([]),
  maxLength: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  overflow: overflow.optional(),
  ttlMs: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  maxDeliveries: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  // A queue name, or null to discard dead letters; default DLQ.<name>.
  deadLetter: z.string().min(1).nullable().optional(),
});

/**
 * Protocol listener sections. Adding one (stomp, http) is one entry here,
 * plus its interface in `types.ts` (the compile-time check below fails until
 * both agree). Env names, flag names, unknown-key checks, error wording, host
 * inheritance and the roost.yaml drift test all follow from the schema. A
 * section without a listener (tls, auth) is one entry in `rawConfigSchema`.
 */
export const listenerSections = { mqtt, stomp, http } as const;

const log = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // Humans at a terminal get colours; pipes, journald and containers get JSON lines.
    pretty: z.boolean().default(() => process.stdout.isTTY === true),
  })
  .prefault({});

/**
 * Why `pattern` cannot be an ACL topic pattern: a topic filter once `%u`
 * and `%c` are substituted, and not a `$share/` filter (a shared
 * subscription is checked as the filter inside it).
 */
function aclTopicPatternProblem(pattern: string): string | undefined {
  if (pattern.startsWith('$share/')) return 'names a shared subscription; write the filter inside it';
  return topicFilterProblem(pattern.replaceAll('%u', 'u').replaceAll('%c', 'c'));
}

const aclTopicPattern = z.string().superRefine((pattern, ctx) => {
  const problem = aclTopicPatternProblem(pattern);
  if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(pattern)} is not a topic filter: it ${problem}`, input: pattern });
});

const aclQueuePattern = z.string().superRefine((pattern, ctx) => {
  if (pattern.length === 0 || /[\u0000-\u001f\u007f]/.test(pattern)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(pattern)} is not a queue name or pattern`, input: pattern });
  }
});

const aclActions = z.strictObject({
  publish: z.array(aclTopicPattern).optional(),
  subscribe: z.array(aclTopicPattern).optional(),
  produce: z.array(aclQueuePattern).optional(),
  consume: z.array(aclQueuePattern).optional(),
});

const aclName = z.string().min(1);

/** One ACL rule; see docs/auth.md. */
const aclRule = z
  .strictObject({
    allow: aclActions.optional(),
    deny: aclActions.optional(),
    users: z.array(aclName).optional(),
    groups: z.array(aclName).optional(),
    anonymous: z.boolean().optional(),
  })
  .superRefine((rule, ctx) => {
    const actions = rule.allow ?? rule.deny;
    if ((rule.allow === undefined) === (rule.deny === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a rule has exactly one of allow and deny', input: rule });
    } else if (actions && Object.values(actions).every((list) => list === undefined)) {
      const effect = rule.allow ? 'allow' : 'deny';
      ctx.addIssue({ code: 'custom', path: [effect], message: 'names none of publish, subscribe, produce, consume', input: actions });
    }
    if (rule.anonymous === true && (rule.users !== undefined || rule.groups !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['anonymous'], message: 'anonymous: true cannot be combined with users or groups (anonymous clients have neither)', input: true });
    }
  });

const auth = z
  .strictObject({
    usersFile: z.string().min(1).optional(),
    allowAnonymous: z.boolean().default(true),
    useCertificateCnAsUsername: z.boolean().default(false),
    acl: z.array(aclRule).default([]),
    // Password checks (scrypt, in libuv's thread pool of 4) at once: the other threads stay free for the store.
    maxConcurrentPasswordChecks: integer(1, 1_024, 2),
    // Logins waiting for a password check; past it a login is refused as server busy.
    maxQueuedPasswordChecks: integer(0, 1_000_000, 128),
    // Failed logins of one user name from one address within loginFailureWindowMs that start a back-off; 0: none.
    maxLoginFailures: atLeast(0, 5),
    loginFailureWindowMs: atLeast(1, 60_000),
    loginBackoffMs: atLeast(1, 60_000),
  })
  .prefault({});

/** The input object before listener hosts are resolved; walk its `shape` for key metadata. */
export const rawConfigSchema = z.strictObject({
  dataDir: z.string().min(1).default('./data'),
  durability: z.enum(['os', 'fsync']).default('os'),
  // Loopback by default: reaching the broker from the network must be a choice someone wrote down.
  host: hostname.default('127.0.0.1'),
  log,
  auth,
  ...listenerSections,
  tls,
  queueDefaults,
  queues: z.array(queue).default([]),
  limits,
});

type RawConfig = z.output<typeof rawConfigSchema>;
type SectionName = keyof typeof listenerSections;

/** The parsed shape once every listener has a concrete host. */
type Resolved = Omit<RawConfig, SectionName> & {
  [K in SectionName]: Omit<RawConfig[K], 'host'> & { host: string };
};

// Compile-time guard: the schema and `RoostConfig` must describe the same keys and types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesTypes: Same<Resolved, RoostConfig> = true;
void schemaMatchesTypes;

function resolveListenerHosts(raw: RawConfig): RoostConfig {
  const resolved: Record<string, unknown> = { ...raw };
  for (const name of Object.keys(listenerSections) as SectionName[]) {
    const section = raw[name];
    resolved[name] = { ...section, host: section.host ?? raw.host };
  }
  return resolved as unknown as Resolved;
}

/**
 * Parses a plain object (already merged from file, env and flags) into a
 * `RoostConfig` with every default applied. Unknown keys are issues.
 * The result is not frozen; `loadConfig` freezes it.
 */
export const configSchema = rawConfigSchema.transform(resolveListenerHosts);

/** Every default, as `loadConfig` would produce with no file, env or flags (not frozen). */
export function configDefaults(): RoostConfig {
  return configSchema.parse({});
}
