import type { IDisconnectPacket } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { until, WsMqtt } from '../helpers/ws.js';

const SERVER_SHUTTING_DOWN = 0x8b;

describe('broker shutdown, as MQTT clients see it', () => {
  let tb: TestBroker | undefined;
  afterEach(async () => {
    await tb?.close();
    tb = undefined;
  });

  it('tells every MQTT 5 client DISCONNECT 0x8B Server shutting down, over TCP and over WebSocket (then close 1001); 3.1.1 clients are closed', async () => {
    tb = await startBroker();
    const tcp5 = await RawMqtt.connected(tb.mqttPort, 5, { clientId: 'tcp5' });
    const tcp4 = await RawMqtt.connected(tb.mqttPort, 4, { clientId: 'tcp4' });
    const ws5 = await WsMqtt.connected(tb.httpPort, 'ws5', 5);

    await tb.stop();

    await tcp5.closed();
    expect(tcp5.packets.at(-1)).toMatchObject({ cmd: 'disconnect', reasonCode: SERVER_SHUTTING_DOWN } satisfies Partial<IDisconnectPacket>);
    await tcp4.closed();
    expect(tcp4.packets).toEqual([]);
    expect(await ws5.peer.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    await until(() => ws5.packets.length > 0, 'a packet over WebSocket');
    expect(ws5.packets.at(-1)).toMatchObject({ cmd: 'disconnect', reasonCode: SERVER_SHUTTING_DOWN } satisfies Partial<IDisconnectPacket>);
  });

  it('lets an MQTT 5 client that stopped reading take its backlog and then DISCONNECT 0x8B', async () => {
    tb = await startBroker();
    const stalled = await RawMqtt.connected(tb.mqttPort, 5, { clientId: 'stalled' });
    stalled.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'backlog', qos: 0 }] });
    await stalled.next('suback');
    stalled.socket.pause();
    // 400 x 16 KiB: more than loopback's socket buffers hold, so most of it waits in the broker.
    const publisher = await RawMqtt.connected(tb.mqttPort, 4, { clientId: 'publisher' });
    for (let seq = 0; seq < 400; seq++) {
      publisher.send({ cmd: 'publish', topic: 'backlog', payload: Buffer.alloc(16 * 1024, seq % 256), qos: 0, retain: false, dup: false });
    }
    publisher.send({ cmd: 'pingreq' });
    await publisher.next('pingresp');

    const stopped = tb.stop();
    stalled.socket.resume();
    await stalled.closed();
    await stopped;
    const publishes = stalled.packets.filter((p) => p.cmd === 'publish');
    expect(publishes.length).toBeGreaterThan(0);
    expect(stalled.packets.at(-1)).toMatchObject({ cmd: 'disconnect', reasonCode: SERVER_SHUTTING_DOWN } satisfies Partial<IDisconnectPacket>);
    publisher.destroy();
  });
});
