import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { hashPassword, type ScryptParams } from '../../src/auth/index.js';
import { Broker } from '../../src/broker.js';
import { configDefaults } from '../../src/config/schema.js';
import type { AuthConfig, HttpConfig, MqttConfig, RoostConfig, StompConfig, TlsConfig } from '../../src/config/types.js';

export interface TestBroker {
  readonly broker: Broker;
  readonly dataDir: string;
  readonly mqttPort: number;
  readonly stompPort: number;
  /** HTTP (ws://) port; 0 when disabled. */
  readonly httpPort: number;
  /** MQTT over TLS port; 0 without TLS. */
  readonly mqttsPort: number;
  /** STOMP over TLS port; 0 without TLS. */
  readonly stompsPort: number;
  /** HTTPS (wss://) port; 0 without TLS. */
  readonly httpsPort: number;
  /** Closes the broker; the data dir stays for a restart. */
  stop(): Promise<void>;
  /** Closes the broker and removes its data dir. */
  close(): Promise<void>;
}

type Overrides = Partial<Omit<RoostConfig, 'mqtt' | 'stomp' | 'http' | 'tls'>> & {
  mqtt?: Partial<MqttConfig>;
  stomp?: Partial<StompConfig>;
  http?: Partial<HttpConfig>;
  tls?: Partial<TlsConfig>;
};

/** A broker on ephemeral ports with its own temp data dir (or `dataDir` to reuse one). */
export async function startBroker(overrides: Overrides = {}): Promise<TestBroker> {
  const dataDir = overrides.dataDir ?? (await mkdtemp(join(tmpdir(), 'roost-test-')));
  const config = testConfig({ ...overrides, dataDir });
  const log = pino({ level: process.env['ROOST_TEST_LOG'] ?? 'silent' });
  let broker: Broker;
  try {
    broker = await Broker.start(config, log, { ephemeralPorts: true });
  } catch (err) {
    if (overrides.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= broker.close());
  return {
    broker,
    dataDir,
    mqttPort: broker.ports.mqtt ?? 0,
    stompPort: broker.ports.stomp ?? 0,
    httpPort: broker.ports.http ?? 0,
    mqttsPort: broker.ports.mqtts ?? 0,
    stompsPort: broker.ports.stomps ?? 0,
    httpsPort: broker.ports.https ?? 0,
    stop,
    async close() {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The schema defaults with `overrides` on top, silent logs. */
export function testConfig(overrides: Overrides & { dataDir: string }): RoostConfig {
  const defaults = configDefaults();
  const { mqtt, stomp, http, tls, ...rest } = overrides;
  return {
    ...defaults,
    log: { level: 'silent', pretty: false },
    ...rest,
    mqtt: { ...defaults.mqtt, host: '127.0.0.1', ...mqtt },
    stomp: { ...defaults.stomp, host: '127.0.0.1', ...stomp },
    http: { ...defaults.http, host: '127.0.0.1', ...http },
    tls: { ...defaults.tls, ...tls },
  };
}

/** A user of a test users file: the password in clear (hashed when written), groups, scrypt cost. */
export interface TestUser {
  readonly password: string;
  readonly groups?: readonly string[];
  readonly scrypt?: ScryptParams;
}

/**
 * A broker (see `startBroker`) whose users file, in its data dir, holds
 * `users`; `auth` is applied over the default auth settings.
 */
export async function startBrokerWithUsers(users: Readonly<Record<string, TestUser>>, auth: Partial<AuthConfig>): Promise<TestBroker> {
  const dataDir = await mkdtemp(join(tmpdir(), 'roost-test-'));
  try {
    const usersFile = join(dataDir, 'users.yaml');
    let text = 'users:\n';
    for (const [name, user] of Object.entries(users)) {
      text += `  ${name}:\n    password: ${await hashPassword(user.password, user.scrypt)}\n`;
      if (user.groups !== undefined) text += `    groups: [${user.groups.join(', ')}]\n`;
    }
    await writeFile(usersFile, text);
    return await startBroker({ dataDir, auth: { ...configDefaults().auth, usersFile, ...auth } });
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
