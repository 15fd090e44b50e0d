import type { IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
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

  it('takes over from a connection that stopped reading at once; that connection still gets its backlog, then DISCONNECT 0x8E', async () => {
    const stalled = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'stalled' });
    stalled.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'backlog', qos: 0 }] });
    await stalled.next('suback');
    stalled.socket.pause();
    // 400 x 16 KiB: more than loopback's socket buffers hold, so most of it waits in the broker.
    const publisher = await RawMqtt.connected(t.mqttPort, 4, { clientId: 'publisher' });
    const count = 400;
    for (let seq = 0; seq < count; seq++) {
      publisher.send({ cmd: 'publish', topic: 'backlog', payload: Buffer.alloc(16 * 1024, seq % 256), qos: 0, retain: false, dup: false });
    }
    publisher.send({ cmd: 'pingreq' });
    await publisher.next('pingresp');

    // Not held up until the stalled connection drains (drainTimeoutMs is a minute).
    const usurper = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'stalled' });
    usurper.send({ cmd: 'pingreq' });
    await usurper.next('pingresp');

    stalled.socket.resume();
    await stalled.closed();
    const publishes = stalled.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
    expect(publishes.length).toBeGreaterThan(0);
    expect(publishes.every((p, i) => (p.payload as Buffer)[0] === i % 256)).toBe(true);
    expect(stalled.packets.at(-1)).toMatchObject({ cmd: 'disconnect', reasonCode: 0x8e } satisfies Partial<IDisconnectPacket>);
    usurper.destroy();
    publisher.destroy();
  });
});
