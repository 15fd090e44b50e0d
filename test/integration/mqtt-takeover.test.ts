import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { httpGet } from '../helpers/ws.js';

async function mqttConnections(t: TestBroker): Promise<number> {
  const health = await httpGet(t.broker.ports.http ?? 0, '/healthz');
  return (JSON.parse(health.body) as { connections: { mqtt: number } }).connections.mqtt;
}

describe('session takeover races', () => {
  let t: TestBroker;
  beforeEach(async () => {
    t = await startBroker();
  });
  afterEach(async () => {
    await t.close();
  });

  it('leaves exactly one live connection, counted once, when CONNECTs with one client id race', async () => {
    const old = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'twin', clean: false, properties: { sessionExpiryInterval: 60 } });
    const racers = await Promise.all(Array.from({ length: 6 }, () => RawMqtt.open(t.mqttPort, 5)));
    for (const r of racers) {
      r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: false, clientId: 'twin', keepalive: 0, properties: { sessionExpiryInterval: 60 } });
    }
    await old.closed();
    const deadline = Date.now() + 5_000;
    let open = racers.filter((r) => !r.isClosed);
    while (open.length > 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      open = racers.filter((r) => !r.isClosed);
    }
    expect(open).toHaveLength(1);
    expect(await mqttConnections(t)).toBe(1);
    const survivor = open[0] as RawMqtt;
    survivor.send({ cmd: 'pingreq' });
    expect((await survivor.next('pingresp')).cmd).toBe('pingresp');
    survivor.destroy();
    await survivor.closed();
    const until = Date.now() + 2_000;
    while ((await mqttConnections(t)) !== 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await mqttConnections(t)).toBe(0);
  });
});
