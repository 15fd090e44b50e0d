import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Broker } from '../../src/broker.js';
import { configDefaults } from '../../src/config/schema.js';
import type { MqttConfig, RoostConfig, StompConfig } from '../../src/config/types.js';

export interface TestBroker {
  readonly broker: Broker;
  readonly dataDir: string;
  readonly mqttPort: number;
  readonly stompPort: number;
  /** Closes the broker; the data dir stays for a restart. */
  stop(): Promise<void>;
  /** Closes the broker and removes its data dir. */
  close(): Promise<void>;
}

type Overrides = Partial<Omit<RoostConfig, 'mqtt' | 'stomp'>> & { mqtt?: Partial<MqttConfig>; stomp?: Partial<StompConfig> };

/** A broker on ephemeral ports with its own temp data dir (or `dataDir` to reuse one). */
export async function startBroker(overrides: Overrides = {}): Promise<TestBroker> {
  const dataDir = overrides.dataDir ?? (await mkdtemp(join(tmpdir(), 'roost-test-')));
  const config = testConfig({ ...overrides, dataDir });
  const log = pino({ level: process.env['ROOST_TEST_LOG'] ?? 'silent' });
  const broker = await Broker.start(config, log, { ephemeralPorts: true });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= broker.close());
  return {
    broker,
    dataDir,
    mqttPort: broker.ports.mqtt ?? 0,
    stompPort: broker.ports.stomp ?? 0,
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
  const { mqtt, stomp, ...rest } = overrides;
  return {
    ...defaults,
    log: { level: 'silent', pretty: false },
    ...rest,
    mqtt: { ...defaults.mqtt, host: '127.0.0.1', ...mqtt },
    stomp: { ...defaults.stomp, host: '127.0.0.1', ...stomp },
  };
}
