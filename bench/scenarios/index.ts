/**
 * Every scenario the harness knows, in the order `all` runs them. A static
 * list on purpose: adding a scenario is one import and one entry here.
 */

import type { Scenario } from '../scenario.js';
import { aclScenarios } from './acl.js';
import { mqttConns } from './mqtt-conns.js';
import { mqttLatency } from './mqtt-latency.js';
import { mqttPersist } from './mqtt-persist.js';
import { mqttFaninQos0, mqttFaninQos1, mqttFanoutQos0 } from './mqtt-throughput.js';
import { mqttFaninQos0Ws } from './mqtt-ws.js';
import { storeScenarios } from './store.js';
import { crossMqttStomp, stompQueue } from './stomp.js';

export const scenarios: readonly Scenario[] = [
  mqttFaninQos0,
  mqttFaninQos0Ws,
  mqttFaninQos1,
  mqttFanoutQos0,
  mqttLatency,
  mqttConns,
  stompQueue,
  crossMqttStomp,
  ...storeScenarios,
  ...aclScenarios,
  mqttPersist,
];
