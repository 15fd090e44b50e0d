/**
 * Every scenario the harness knows, in the order `all` runs them. A static
 * list on purpose: adding a scenario is one import and one entry here.
 */

import type { Scenario } from '../scenario.js';
import { mqttConns } from './mqtt-conns.js';
import { mqttLatency } from './mqtt-latency.js';
import { mqttFaninQos0, mqttFaninQos1, mqttFanoutQos0 } from './mqtt-throughput.js';
import { storeScenarios } from './store.js';
import { crossMqttStomp, stompQueue } from './stomp.js';

export const scenarios: readonly Scenario[] = [
  mqttFaninQos0,
  mqttFaninQos1,
  mqttFanoutQos0,
  mqttLatency,
  mqttConns,
  stompQueue,
  crossMqttStomp,
  ...storeScenarios,
];
