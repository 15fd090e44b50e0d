/**
 * The store's public surface: LevelStore (LevelDB, group commit, retained
 * messages, durable queues, session records) and the aedes persistence
 * adapter on top of it. See docs/store.md.
 */
export { LevelStore, type LevelStoreOptions, type StoreStats } from './level-store.js';
export type { RetainedStore, RetainedRecord } from './retained-store.js';
export type { QueueStore, QueueEntry, QueueEntryInfo, QueueCursor, EnqueueOptions, QueueStats } from './queue-store.js';
export type { SessionStore, SubscriptionRecord } from './session-store.js';
export type { CatalogStore, QueueDefinition } from './catalog-store.js';
export {
  AedesLevelPersistence,
  mqttQueueName,
  type AedesPersistenceOptions,
  type BrokerRef,
  type ClientRef,
  type PacketLike,
  type SharedChooser,
  type SharedMember,
  type SubscriptionLike,
} from './aedes-persistence.js';
