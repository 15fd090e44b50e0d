// Runs aedes-persistence's abstract contract suite (written for node:test)
// against Roost's LevelDB adapter, compiled to dist/ by `npm run build`.
// Run: node --test test/helpers/store-aedes-abstract-runner.mjs
// Each persistence instance gets its own data dir under one mkdtemp root,
// removed when the suite ends.
import { after, test } from 'node:test';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const abstract = require('aedes-persistence/abstract.js');
const dist = fileURLToPath(new URL('../../dist/src/store/', import.meta.url));
const { LevelStore } = await import(join(dist, 'level-store.js'));
const { AedesLevelPersistence } = await import(join(dist, 'aedes-persistence.js'));

const root = await mkdtemp(join(tmpdir(), 'roost-abstract-'));
let n = 0;
after(async () => {
  await rm(root, { recursive: true, force: true });
});

abstract({
  test,
  testAsync: true,
  persistence: async () => {
    const store = await LevelStore.open({ dataDir: join(root, String(++n)), durability: 'os', maxQueuedMessages: 10_000 });
    return new AedesLevelPersistence(store, { ownsStore: true });
  },
});
