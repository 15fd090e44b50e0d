/**
 * Memory per idle connection: the broker's RSS when idle, then with
 * `--conns` (default 1,000) connected clients that send nothing after
 * CONNECT (keepalive 0, so no PINGREQ either).
 *
 * Each reading is taken `QUIET_MS` after the broker went quiet. A Node
 * broker's RSS then still holds the young generation V8 grew while it loaded
 * its modules or accepted the connections; V8 gives it back only when its
 * idle-time memory reducer runs, 10–70 s later. With `--rss-settle-ms N`
 * both readings are followed by up to N ms of sampling, and the lowest RSS
 * seen is reported as well (`settled*` figures): what the broker costs once
 * it has been idle for a while.
 */

import { RawMqttClient } from '../mqtt-raw.js';
import { readOpenFilesLimit, readRssBytes } from '../proc.js';
import type { BenchOptions, BenchResult, Scenario } from '../scenario.js';
import { sleep, type Target } from '../targets/launch.js';
import { forEachTarget, numberFlag, type Measurement } from './each-target.js';

const DEFAULT_CONNS = 1_000;
/** Connections opened at once; enough to be quick, few enough not to overflow the accept backlog. */
const CONNECT_CONCURRENCY = 50;
/** Time for the broker's allocations to settle before RSS is read, ms. */
const QUIET_MS = 1_500;
/** File descriptors the harness keeps for itself beyond the client sockets. */
const FD_MARGIN = 64;
/** Interval between RSS samples while settling, ms. */
const SETTLE_SAMPLE_MS = 1_000;

/** The lowest RSS of `pid` seen over `forMs` (at least the reading `first`), bytes. */
async function lowestRss(pid: number, first: number, forMs: number): Promise<number> {
  let lowest = first;
  const end = performance.now() + forMs;
  while (performance.now() < end) {
    await sleep(Math.min(SETTLE_SAMPLE_MS, Math.max(0, end - performance.now())));
    const rss = readRssBytes(pid);
    if (rss === undefined) throw new Error(`cannot read RSS of pid ${pid}`);
    lowest = Math.min(lowest, rss);
  }
  return lowest;
}

async function measureConns(target: Target, options: BenchOptions): Promise<Measurement> {
  const wanted = Math.floor(numberFlag(options, 'conns', DEFAULT_CONNS));
  const settleMs = numberFlag(options, 'rss-settle-ms', 0, true);
  const pid = target.pid;
  if (pid === undefined) throw new Error('mqtt-conns reads the broker RSS from /proc: give --pid with --port');
  const ownLimit = readOpenFilesLimit('self');
  const brokerLimit = readOpenFilesLimit(pid);
  // Node cannot raise its own limit; connect only what fits and say so.
  const reachable = ownLimit === undefined ? wanted : Math.min(wanted, ownLimit.soft - FD_MARGIN);

  await sleep(QUIET_MS);
  const idleRss = readRssBytes(pid);
  if (idleRss === undefined) throw new Error(`cannot read RSS of pid ${pid}`);
  const settledIdleRss = settleMs > 0 ? await lowestRss(pid, idleRss, settleMs) : undefined;

  const runId = `${process.pid}-${Date.now().toString(36)}`;
  const clients: RawMqttClient[] = [];
  let firstError: string | undefined;
  const start = performance.now();
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (firstError === undefined) {
        const index = next++;
        if (index >= reachable) return;
        try {
          clients.push(
            await RawMqttClient.connect({
              host: target.host,
              port: target.port,
              clientId: `bench-idle-${index}-${runId}`,
              keepaliveSec: 0,
            }),
          );
        } catch (err) {
          firstError ??= `connection ${index + 1}: ${err instanceof Error ? err.message : String(err)}`;
        }
      }
    };
    await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
    const connectSec = (performance.now() - start) / 1000;
    await sleep(QUIET_MS);
    const connected = clients.filter((client) => !client.closed).length;
    const loadedRss = readRssBytes(pid);
    if (loadedRss === undefined) throw new Error(`cannot read RSS of pid ${pid}`);
    const perConnection = (loaded: number, idle: number): number => (connected === 0 ? 0 : Math.round((loaded - idle) / connected));

    const figures: Record<string, number> = {
      idleRssBytes: idleRss,
      connections: connected,
      loadedRssBytes: loadedRss,
      bytesPerConnection: perConnection(loadedRss, idleRss),
      connectsPerSec: Math.round(clients.length / connectSec),
    };
    const notes: Record<string, string | number> = { requested: wanted };
    if (settledIdleRss !== undefined) {
      const settledLoadedRss = await lowestRss(pid, loadedRss, settleMs);
      figures['settledIdleRssBytes'] = settledIdleRss;
      figures['settledLoadedRssBytes'] = settledLoadedRss;
      // A settled idle reading against a loaded one that never came down would charge
      // the connections with the young generation V8 had not yet given back.
      if (settledLoadedRss < loadedRss) figures['settledBytesPerConnection'] = perConnection(settledLoadedRss, settledIdleRss);
      else notes['settledBytesPerConnection'] = `left out: RSS with the connections did not come down within ${settleMs} ms; give a longer --rss-settle-ms`;
    }
    if (ownLimit !== undefined) notes['harnessOpenFilesSoftLimit'] = ownLimit.soft;
    if (brokerLimit !== undefined) notes['brokerOpenFilesSoftLimit'] = brokerLimit.soft;
    if (reachable < wanted) notes['limitedBy'] = `harness open-files limit ${ownLimit?.soft}`;
    if (firstError !== undefined) notes['stoppedAt'] = firstError;
    return { figures, notes };
  } finally {
    for (const client of clients) client.destroy();
  }
}

export const mqttConns: Scenario = {
  name: 'mqtt-conns',
  description: `idle broker RSS, then RSS with --conns idle clients (default ${DEFAULT_CONNS}): bytes per connection; --rss-settle-ms N also reports the lowest RSS over N ms after each reading`,
  run: (options: BenchOptions): Promise<BenchResult[]> => {
    const wanted = Math.floor(numberFlag(options, 'conns', DEFAULT_CONNS));
    // Ask the child for room for every client plus its own files.
    return forEachTarget('mqtt-conns', options, (target) => measureConns(target, options), {
      openFiles: wanted + 1_024,
    });
  },
};
