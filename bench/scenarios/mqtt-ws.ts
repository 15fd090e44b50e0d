/**
 * MQTT over WebSocket: the QoS 0 fan-in of `mqtt-fanin-q0` with every
 * client on `ws://…/mqtt` instead of TCP, measured by the same code
 * (`measureThroughput`), so the two figures of one run differ only in the
 * transport. The harness starts Roost with its HTTP listener on a free port;
 * an already running broker is measured with `--port P --http-port H`.
 * The aedes and Mosquitto targets have no WebSocket listener and are
 * reported as skipped.
 */

import { DEFAULT_MQTT_WS_PATH } from '../mqtt-raw.js';
import type { BenchOptions, BenchResult, Scenario } from '../scenario.js';
import type { Target } from '../targets/launch.js';
import { chooseTargets, forEachTarget, numberFlag } from './each-target.js';
import { FANIN_Q0_PLAN, measureThroughput, type ThroughputPlan } from './mqtt-throughput.js';

/** The HTTP port to load: the one the harness started Roost with, or `--http-port` for an external broker. */
function httpPortOf(target: Target, options: BenchOptions): number {
  if (target.httpPort !== undefined) return target.httpPort;
  const flag = numberFlag(options, 'http-port', 0, true);
  if (flag > 0) return flag;
  throw new Error('no HTTP port: give --http-port H with --port');
}

/** `plan` with every client connecting over WebSocket to the target's HTTP port. */
function overWebSocket(plan: ThroughputPlan, options: BenchOptions): ThroughputPlan {
  return {
    ...plan,
    endpoint: (target) => ({ host: target.host, port: httpPortOf(target, options), transport: 'ws', path: DEFAULT_MQTT_WS_PATH }),
  };
}

/**
 * Runs `plan` over WebSocket on Roost (or the external broker), each time
 * on a fresh Roost with its HTTP listener on; every other chosen target is
 * reported as skipped.
 */
async function onWebSocketTargets(scenario: string, options: BenchOptions, plan: ThroughputPlan): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const wsPlan = overWebSocket(plan, options);
  for (const name of chooseTargets(options)) {
    if (name === 'roost' || name === 'external') {
      const only = { ...options, extra: { ...options.extra, targets: 'roost' } };
      results.push(...(await forEachTarget(scenario, only, (target) => measureThroughput(target, options, wsPlan), { httpPort: true })));
    } else {
      results.push({ scenario, target: name, figures: {}, notes: { skipped: `${name} has no WebSocket listener in this harness` } });
    }
  }
  return results;
}

export const mqttFaninQos0Ws: Scenario = {
  name: 'mqtt-fanin-q0-ws',
  description: 'mqtt-fanin-q0 over WebSocket (ws://…/mqtt): 10 publishers → 1 subscriber, QoS 0, 64-byte payloads: delivered msg/s, loss %',
  run: (options) => onWebSocketTargets('mqtt-fanin-q0-ws', options, FANIN_Q0_PLAN),
};
