import type { Logger } from 'pino';
import type { RoostConfig } from './config/types.js';

/** Bound ports of the running listeners; absent when a listener is disabled. */
export interface BrokerPorts {
  readonly mqtt?: number;
}

/**
 * The composition root: one store, one router, the protocol listeners.
 * Placeholder until the core lands.
 */
export class Broker {
  readonly ports: BrokerPorts = {};
  /** @throws RoostError LISTEN_ADDRESS_IN_USE | STORE_LOCKED | STORE_CORRUPT | STORE_UNWRITABLE | STORE_VERSION_UNSUPPORTED */
  static async start(config: RoostConfig, log: Logger): Promise<Broker> {
    void config;
    void log;
    return new Broker();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
