/**
 * Reference target: bare in-memory aedes on a plain TCP listener, no
 * persistence, no auth, no logging — the floor Roost's MQTT path is built on.
 * Run by the harness as `node dist/bench/targets/aedes.js <port> [aedes-dir]`:
 * with a directory, the aedes package found there (the harness passes a stock
 * install); without, node_modules/aedes (Roost's patched copy). It listens on
 * 127.0.0.1 and exits on SIGTERM/SIGINT.
 */

import net from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Aedes as AedesType } from 'aedes';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
  process.stderr.write(`usage: aedes.js <port 1-65535> [aedes-dir], got ${process.argv[2] ?? '(none)'}\n`);
  process.exit(2);
}
const dir = process.argv[3];
const { Aedes } = (await import(dir === undefined ? 'aedes' : pathToFileURL(join(dir, 'aedes.js')).href)) as { Aedes: typeof AedesType };

const broker = await Aedes.createBroker();
const server = net.createServer(broker.handle);
server.on('error', (err) => {
  process.stderr.write(`aedes target: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, '127.0.0.1');

const shutdown = (): void => {
  // The harness only needs the process gone; closing first lets clients see FIN rather than RST.
  server.close();
  broker.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1_000).unref();
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
