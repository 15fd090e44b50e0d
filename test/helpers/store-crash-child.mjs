// Opens the store in argv[2] with durability argv[3], queues one message per
// line of work, prints "acked <n>" as each write resolves, and after the last
// one SIGKILLs itself: nothing gets a chance to flush on the way out.
// Used by test/integration/store-durability.test.ts against dist/.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const dist = fileURLToPath(new URL('../../dist/src/store/', import.meta.url));
const { LevelStore } = await import(join(dist, 'level-store.js'));
const [dataDir, durability, count] = process.argv.slice(2);
const store = await LevelStore.open({ dataDir, durability, maxQueuedMessages: 1000 });
const n = Number(count);
const writes = [];
for (let i = 0; i < n; i++) {
  writes.push(
    store.queues.enqueue(['q'], { topic: 'crash/test', payload: Buffer.from(`m${i}`), qos: 1 }).then(() => process.stdout.write(`acked ${i}\n`)),
  );
}
await Promise.all(writes);
process.kill(process.pid, 'SIGKILL');
