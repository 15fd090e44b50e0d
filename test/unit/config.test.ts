import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { hasCode, RoostError } from '../../src/core/errors.js';
import { CONFIG_KEYS, CONFIG_SECTIONS, configKey, envNameOf, flagNameOf } from '../../src/config/keys.js';
import { loadConfig, type LoadConfigOptions } from '../../src/config/load.js';
import { RENAMED_KEYS, type RenamedKey } from '../../src/config/renamed.js';
import { configDefaults } from '../../src/config/schema.js';
import { editDistance, suggestKey } from '../../src/config/suggest.js';
import type { RoostConfig } from '../../src/config/types.js';

const ROOST_YAML = new URL('../../config/roost.yaml', import.meta.url);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'roost-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function yamlFile(text: string, name = 'roost.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function load(options: Partial<LoadConfigOptions> = {}): RoostConfig {
  return loadConfig({ env: {}, flags: {}, ...options });
}

/** The problem lines of the CONFIG_INVALID error `options` produce; fails the test if loading succeeds. */
function problems(options: Partial<LoadConfigOptions>): string[] {
  try {
    load(options);
  } catch (err) {
    expect(hasCode(err, 'CONFIG_INVALID')).toBe(true);
    return (err as RoostError).message.split('\n');
  }
  throw new Error('expected loadConfig to throw CONFIG_INVALID');
}

describe('defaults', () => {
  it('are the documented values when nothing is set', () => {
    expect(load()).toEqual({
      dataDir: './data',
      durability: 'os',
      host: '127.0.0.1',
      log: { level: 'info', pretty: process.stdout.isTTY === true },
      auth: {
        allowAnonymous: true,
        useCertificateCnAsUsername: false,
        acl: [],
        maxConcurrentPasswordChecks: 2,
        maxQueuedPasswordChecks: 128,
        maxLoginFailures: 5,
        loginFailureWindowMs: 60_000,
        loginBackoffMs: 60_000,
      },
      mqtt: {
        port: 1883,
        host: '127.0.0.1',
        maxPacketBytes: 1_048_576,
        maxQueuedMessages: 1000,
        receiveMaximum: 100,
        topicAliasMaximum: 10,
        maxSessionExpirySeconds: 0,
        maxKeepaliveSeconds: 0,
        connectTimeoutMs: 30_000,
        drainTimeoutMs: 60_000,
        maxClientIdLength: 256,
        maxTopicLevels: 100,
      },
      stomp: {
        port: 61613,
        host: '127.0.0.1',
        heartbeatSendMs: 10_000,
        heartbeatReceiveMs: 10_000,
        connectTimeoutMs: 30_000,
        drainTimeoutMs: 60_000,
        dottedTopics: false,
        defaultPrefetch: 100,
        maxPrefetch: 10_000,
        maxSubscriptions: 1000,
        maxFrameBytes: 1_114_112,
        maxHeaders: 128,
        maxHeaderLineBytes: 8192,
        maxBodyBytes: 1_048_576,
      },
      http: {
        port: 8080,
        host: '127.0.0.1',
        mqttPath: '/mqtt',
        stompPath: '/stomp',
        maxPayloadBytes: 1_114_112,
        drainTimeoutMs: 60_000,
      },
      tls: { requestClientCert: false, minVersion: 'TLSv1.2', mqttPort: 8883, stompPort: 61614, httpsPort: 8443 },
      queueDefaults: { maxLength: 100_000, overflow: 'drop-oldest', ttlMs: 0, maxDeliveries: 0 },
      queues: [],
      limits: {
        maxConnections: 10_000,
        maxConnectionsPerIp: 1000,
        connectionsPerIpPerSecond: 0,
        publishesPerSecond: 0,
        publishBurst: 100,
        maxSubscriptionsPerClient: 1000,
        diskMinFreeBytes: 0,
        storeMaxBytes: 0,
        slowConsumer: { policy: 'drop', maxPendingMessages: 10_000, maxPendingBytes: 16_777_216, timeoutMs: 10_000 },
      },
    });
    expect(load()).toEqual(configDefaults());
  });

  it('need tls.cert and tls.key together, and tls.ca for client certificates', () => {
    expect(problems({ flags: { 'tls.cert': 'server.crt', 'tls.requestClientCert': true } })).toEqual([
      'tls.key: cert and key are set together (both unset: no TLS listener)',
      'tls.ca: requestClientCert needs the CA that signs client certificates',
    ]);
    expect(load({ flags: { 'http.port': 0, 'tls.httpsPort': 0 } }).http.port).toBe(0);
  });

  it('give mqtt.host the top-level host unless it is set itself', () => {
    expect(load({ flags: { host: '0.0.0.0' } }).mqtt.host).toBe('0.0.0.0');
    const file = yamlFile('host: 0.0.0.0\nmqtt:\n  host: 10.0.0.5\n');
    const config = load({ file });
    expect(config.host).toBe('0.0.0.0');
    expect(config.mqtt.host).toBe('10.0.0.5');
  });

  it('treat an empty file and an all-commented section as "all defaults"', () => {
    expect(load({ file: yamlFile('') })).toEqual(configDefaults());
    expect(load({ file: yamlFile('# nothing\nlog:\nmqtt:\n  # port: 1\n') })).toEqual(configDefaults());
  });

  it('accept the limits at both ends of their ranges', () => {
    const config = load({
      flags: { 'mqtt.port': 0, 'mqtt.maxPacketBytes': 268_435_455, 'mqtt.receiveMaximum': 65_535 },
    });
    expect(config.mqtt.port).toBe(0);
    expect(config.mqtt.maxPacketBytes).toBe(268_435_455);
    expect(problems({ flags: { 'mqtt.maxPacketBytes': 268_435_456 } })).toEqual([
      'mqtt.maxPacketBytes: expected an integer 1–268435455, got 268435456 [--mqtt-max-packet-bytes]',
    ]);
  });
});

describe('precedence: file, then env, then flags', () => {
  it('lets each source override the one before, key by key', () => {
    const file = yamlFile('dataDir: /from/file\nmqtt:\n  port: 1001\n  maxQueuedMessages: 5\n');
    const env = { ROOST_MQTT_PORT: '1002', ROOST_DATA_DIR: '/from/env' };
    expect(load({ file }).mqtt.port).toBe(1001);
    const fromEnv = load({ file, env });
    expect(fromEnv.mqtt.port).toBe(1002);
    expect(fromEnv.dataDir).toBe('/from/env');
    // Sibling keys of an overridden one keep the file's value: sources merge per key, not per section.
    expect(fromEnv.mqtt.maxQueuedMessages).toBe(5);
    const fromFlags = load({ file, env, flags: { 'mqtt.port': '1003', dataDir: undefined } });
    expect(fromFlags.mqtt.port).toBe(1003);
    expect(fromFlags.dataDir).toBe('/from/env');
  });

  it('reads every key from ROOST_ + its path in SCREAMING_SNAKE_CASE', () => {
    expect(CONFIG_KEYS.map((key) => key.envName)).toEqual([
      'ROOST_DATA_DIR',
      'ROOST_DURABILITY',
      'ROOST_HOST',
      'ROOST_LOG_LEVEL',
      'ROOST_LOG_PRETTY',
      'ROOST_AUTH_USERS_FILE',
      'ROOST_AUTH_ALLOW_ANONYMOUS',
      'ROOST_AUTH_USE_CERTIFICATE_CN_AS_USERNAME',
      'ROOST_AUTH_ACL',
      'ROOST_AUTH_MAX_CONCURRENT_PASSWORD_CHECKS',
      'ROOST_AUTH_MAX_QUEUED_PASSWORD_CHECKS',
      'ROOST_AUTH_MAX_LOGIN_FAILURES',
      'ROOST_AUTH_LOGIN_FAILURE_WINDOW_MS',
      'ROOST_AUTH_LOGIN_BACKOFF_MS',
      'ROOST_MQTT_PORT',
      'ROOST_MQTT_HOST',
      'ROOST_MQTT_MAX_PACKET_BYTES',
      'ROOST_MQTT_MAX_QUEUED_MESSAGES',
      'ROOST_MQTT_RECEIVE_MAXIMUM',
      'ROOST_MQTT_TOPIC_ALIAS_MAXIMUM',
      'ROOST_MQTT_MAX_SESSION_EXPIRY_SECONDS',
      'ROOST_MQTT_MAX_KEEPALIVE_SECONDS',
      'ROOST_MQTT_CONNECT_TIMEOUT_MS',
      'ROOST_MQTT_DRAIN_TIMEOUT_MS',
      'ROOST_MQTT_MAX_CLIENT_ID_LENGTH',
      'ROOST_MQTT_MAX_TOPIC_LEVELS',
      'ROOST_STOMP_PORT',
      'ROOST_STOMP_HOST',
      'ROOST_STOMP_HEARTBEAT_SEND_MS',
      'ROOST_STOMP_HEARTBEAT_RECEIVE_MS',
      'ROOST_STOMP_CONNECT_TIMEOUT_MS',
      'ROOST_STOMP_DRAIN_TIMEOUT_MS',
      'ROOST_STOMP_DOTTED_TOPICS',
      'ROOST_STOMP_DEFAULT_PREFETCH',
      'ROOST_STOMP_MAX_PREFETCH',
      'ROOST_STOMP_MAX_SUBSCRIPTIONS',
      'ROOST_STOMP_MAX_FRAME_BYTES',
      'ROOST_STOMP_MAX_HEADERS',
      'ROOST_STOMP_MAX_HEADER_LINE_BYTES',
      'ROOST_STOMP_MAX_BODY_BYTES',
      'ROOST_HTTP_PORT',
      'ROOST_HTTP_HOST',
      'ROOST_HTTP_MQTT_PATH',
      'ROOST_HTTP_STOMP_PATH',
      'ROOST_HTTP_MAX_PAYLOAD_BYTES',
      'ROOST_HTTP_DRAIN_TIMEOUT_MS',
      'ROOST_TLS_CERT',
      'ROOST_TLS_KEY',
      'ROOST_TLS_CA',
      'ROOST_TLS_REQUEST_CLIENT_CERT',
      'ROOST_TLS_MIN_VERSION',
      'ROOST_TLS_MQTT_PORT',
      'ROOST_TLS_STOMP_PORT',
      'ROOST_TLS_HTTPS_PORT',
      'ROOST_QUEUE_DEFAULTS_MAX_LENGTH',
      'ROOST_QUEUE_DEFAULTS_OVERFLOW',
      'ROOST_QUEUE_DEFAULTS_TTL_MS',
      'ROOST_QUEUE_DEFAULTS_MAX_DELIVERIES',
      'ROOST_QUEUES',
      'ROOST_LIMITS_MAX_CONNECTIONS',
      'ROOST_LIMITS_MAX_CONNECTIONS_PER_IP',
      'ROOST_LIMITS_CONNECTIONS_PER_IP_PER_SECOND',
      'ROOST_LIMITS_PUBLISHES_PER_SECOND',
      'ROOST_LIMITS_PUBLISH_BURST',
      'ROOST_LIMITS_MAX_SUBSCRIPTIONS_PER_CLIENT',
      'ROOST_LIMITS_DISK_MIN_FREE_BYTES',
      'ROOST_LIMITS_STORE_MAX_BYTES',
      'ROOST_LIMITS_SLOW_CONSUMER_POLICY',
      'ROOST_LIMITS_SLOW_CONSUMER_MAX_PENDING_MESSAGES',
      'ROOST_LIMITS_SLOW_CONSUMER_MAX_PENDING_BYTES',
      'ROOST_LIMITS_SLOW_CONSUMER_TIMEOUT_MS',
    ]);
    expect(flagNameOf('mqtt.port')).toBe('--mqtt-port');
    expect(flagNameOf('dataDir')).toBe('--data-dir');
  });

  it('converts env strings to the key type', () => {
    const config = load({
      env: {
        ROOST_AUTH_ALLOW_ANONYMOUS: 'false',
        ROOST_LOG_PRETTY: 'true',
        ROOST_DURABILITY: 'fsync',
        ROOST_MQTT_MAX_QUEUED_MESSAGES: '25',
        ROOST_HOST: '',
      },
    });
    expect(config.auth.allowAnonymous).toBe(false);
    expect(config.log.pretty).toBe(true);
    expect(config.durability).toBe('fsync');
    expect(config.mqtt.maxQueuedMessages).toBe(25);
    // Empty means unset, as in most env-file tooling.
    expect(config.host).toBe('127.0.0.1');
  });

  it('ignores ROOST_* variables that are not near a key, and the ones Kubernetes injects', () => {
    const env = {
      ROOST_CONFIG: '/etc/roost.yaml',
      ROOST_PORT: 'tcp://10.0.0.1:1883',
      ROOST_PORT_1883_TCP_PORT: '1883',
      ROOST_SERVICE_HOST: '10.0.0.1',
      ROOST_SOMETHING_ELSE_ENTIRELY: 'x',
      PATH: '/usr/bin',
    };
    expect(load({ env })).toEqual(configDefaults());
  });
});

describe('problems', () => {
  it('are all reported at once, each naming its key and where it was set', () => {
    const file = yamlFile(
      ['durability: fast', 'allowAnonymous: yes', 'mqtt:', '  receiveMaximum: 0', '  maxPacketBytes: 1.5', ''].join('\n'),
    );
    const lines = problems({
      file,
      env: { ROOST_MQTT_MAX_QUEUED_MESSAGES: 'lots' },
      flags: { 'mqtt.port': 'abc', 'log.level': 'loud' },
    });
    expect(lines).toEqual([
      `allowAnonymous: renamed to auth.allowAnonymous; use auth.allowAnonymous instead [${file}:2]`,
      `durability: expected one of os, fsync, got "fast" [${file}:1]`,
      'log.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud" [--log-level]',
      'mqtt.port: expected an integer 0–65535, got "abc" [--mqtt-port]',
      `mqtt.maxPacketBytes: expected an integer 1–268435455, got 1.5 [${file}:5]`,
      'mqtt.maxQueuedMessages: expected an integer ≥ 1, got "lots" [ROOST_MQTT_MAX_QUEUED_MESSAGES]',
      `mqtt.receiveMaximum: expected an integer 1–65535, got 0 [${file}:4]`,
    ]);
  });

  it('name an unknown key and suggest the one meant', () => {
    const file = yamlFile('port: 1883\nmqtt:\n  prot: 1883\n  max_packet_bytes: 10\nwebsocket:\n  port: 8080\n');
    expect(problems({ file })).toEqual([
      `mqtt.prot: unknown key (did you mean mqtt.port?) [${file}:3]`,
      `mqtt.max_packet_bytes: unknown key (did you mean mqtt.maxPacketBytes?) [${file}:4]`,
      `port: unknown key (did you mean mqtt.port or stomp.port or http.port?) [${file}:1]`,
      `websocket: unknown key (config/roost.yaml lists every key) [${file}:5]`,
    ]);
  });

  it('catch a misspelt ROOST_ variable and an unknown flag path', () => {
    expect(problems({ env: { ROOST_MQTT_PROT: '1' } })).toEqual([
      'ROOST_MQTT_PROT: unknown environment variable (did you mean ROOST_MQTT_PORT?)',
    ]);
    expect(problems({ flags: { 'mqtt.prot': '1' } })).toEqual(['mqtt.prot: unknown key (did you mean mqtt.port?)']);
  });

  it('describe a section given as a value, and a file that is not a mapping', () => {
    expect(problems({ file: yamlFile('log: loud\n') })).toEqual([
      `log: expected a mapping of level, pretty, got "loud" [${dir}/roost.yaml:1]`,
    ]);
    const list = yamlFile('- a\n- b\n', 'list.yaml');
    expect(problems({ file: list })).toEqual([`${list}: expected a mapping of keys at the top level, got a list`]);
  });

  it('report YAML syntax errors with line and column, alongside env problems', () => {
    const file = yamlFile('mqtt:\n  port: 1\n  port: 2\n');
    const lines = problems({ file, env: { ROOST_MQTT_PORT: 'x' } });
    expect(lines[0]).toMatch(new RegExp(`^${file}:3:3: .*unique`, 'i'));
    expect(lines[1]).toBe('mqtt.port: expected an integer 0–65535, got "x" [ROOST_MQTT_PORT]');
  });

  it('say what replaced a renamed key, in the file, the env and the flags', () => {
    const renamedKeys = new Map<string, RenamedKey>([
      ['mqtt.maxInflight', { replacedBy: 'mqtt.receiveMaximum' }],
      ['logLevel', { replacedBy: 'log.level', note: 'now a section' }],
    ]);
    const file = yamlFile('logLevel: debug\nmqtt:\n  maxInflight: 20\n');
    expect(problems({ file, renamedKeys })).toEqual([
      `mqtt.maxInflight: renamed to mqtt.receiveMaximum; use mqtt.receiveMaximum instead [${file}:3]`,
      `logLevel: renamed to log.level (now a section); use log.level instead [${file}:1]`,
    ]);
    expect(problems({ env: { ROOST_MQTT_MAX_INFLIGHT: '20' }, renamedKeys })).toEqual([
      'ROOST_MQTT_MAX_INFLIGHT: renamed to mqtt.receiveMaximum; use ROOST_MQTT_RECEIVE_MAXIMUM instead',
    ]);
    expect(problems({ flags: { 'mqtt.maxInflight': 20 }, renamedKeys })).toEqual([
      'mqtt.maxInflight: renamed to mqtt.receiveMaximum; use mqtt.receiveMaximum instead',
    ]);
    // Every shipped entry must point at a key that exists.
    for (const { replacedBy } of RENAMED_KEYS.values()) expect(configKey(replacedBy)).toBeDefined();
  });

  it('throw CONFIG_UNREADABLE naming the file and the reason', () => {
    const missing = join(dir, 'missing.yaml');
    expect(() => load({ file: missing })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_UNREADABLE',
        message: `cannot read config file ${missing}: ENOENT: no such file or directory`,
      }),
    );
    mkdirSync(join(dir, 'adir'));
    expect(() => load({ file: join(dir, 'adir') })).toThrow(/cannot read config file .*adir: EISDIR/);
  });
});

describe('the loaded config', () => {
  it('is deeply frozen', () => {
    const config = load();
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.mqtt)).toBe(true);
    expect(Object.isFrozen(config.log)).toBe(true);
    expect(() => {
      (config.mqtt as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});

describe('config/roost.yaml', () => {
  it('loads to exactly the schema defaults', () => {
    expect(load({ file: ROOST_YAML.pathname })).toEqual(configDefaults());
  });

  it('shows every key, with the ones whose default is computed commented out', () => {
    // Uncomment `# key: value` lines of real keys; the result must hold every key and still be valid.
    const names = new Set(CONFIG_KEYS.map((key) => key.segments.at(-1)));
    const text = readFileSync(ROOST_YAML, 'utf8').replace(/^(\s*)# (\w+): (.*)$/gm, (line, indent, name, value) =>
      names.has(name as string) ? `${indent}${name}: ${value}` : line,
    );
    const shown = parseYaml(text) as Record<string, unknown>;
    for (const key of CONFIG_KEYS) {
      const value = key.segments.reduce<unknown>((node, s) => (node as Record<string, unknown>)?.[s], shown);
      expect(value, `${key.path} is missing from config/roost.yaml`).not.toBeUndefined();
    }
    expect(() => load({ file: yamlFile(text, 'uncommented.yaml') })).not.toThrow();
  });

  it('gives every key a one-line comment above it', () => {
    const lines = readFileSync(ROOST_YAML, 'utf8').split('\n');
    for (const key of CONFIG_KEYS) {
      const name = key.segments.at(-1) ?? '';
      const at = lines.findIndex((line) => new RegExp(`^\\s*(# )?${name}:`).test(line));
      expect(at, key.path).toBeGreaterThan(0);
      expect(lines[at - 1], `comment above ${key.path}`).toMatch(/^\s*# \S/);
    }
    expect(CONFIG_SECTIONS).toEqual(new Set(['log', 'auth', 'mqtt', 'stomp', 'http', 'tls', 'queueDefaults', 'limits', 'limits.slowConsumer']));
  });
});

describe('suggestions', () => {
  it('measure transpositions as one edit', () => {
    expect(editDistance('prot', 'port')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('prefer a same-named key elsewhere to a distant sibling, and give up when nothing is close', () => {
    const known = ['host', 'dataDir', 'mqtt.port', 'mqtt.host'];
    expect(suggestKey('port', known)).toBe('mqtt.port');
    expect(suggestKey('mqtt.hots', known)).toBe('mqtt.host');
    expect(suggestKey('datadir', known)).toBe('dataDir');
    expect(suggestKey('mqtt.zzzzzz', known)).toBeUndefined();
    expect(envNameOf('mqtt.maxQueuedMessages')).toBe('ROOST_MQTT_MAX_QUEUED_MESSAGES');
  });
});

describe('queues', () => {
  it('declares queues in the file, unset fields left to queueDefaults', () => {
    const file = yamlFile('queueDefaults:\n  maxDeliveries: 3\nqueues:\n  - name: telemetry\n    bind: ["sensors/#"]\n    overflow: reject\n  - name: audit\n');
    const config = load({ file });
    expect(config.queueDefaults.maxDeliveries).toBe(3);
    expect(config.queues).toEqual([
      { name: 'telemetry', bind: ['sensors/#'], overflow: 'reject' },
      { name: 'audit', bind: [] },
    ]);
  });

  it('reads a list from the environment as JSON', () => {
    const config = load({ env: { ROOST_QUEUES: '[{"name":"q","bind":["a/#"],"deadLetter":null}]' } });
    expect(config.queues).toEqual([{ name: 'q', bind: ['a/#'], deadLetter: null }]);
  });

  it('names the entry and the key of a bad queue declaration', () => {
    const file = yamlFile('queues:\n  - name: q\n    overflow: sometimes\n    colour: blue\n');
    const lines = problems({ file });
    expect(lines.some((line) => line.startsWith('queues.0.overflow:'))).toBe(true);
    expect(lines.some((line) => line.startsWith('queues.0.colour: unknown key'))).toBe(true);
  });
});
