import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { IConnackPacket, IDisconnectPacket } from 'mqtt-packet';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end, nextMessages } from '../helpers/mqtt.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';

/**
 * Hostile input from raw sockets. One broker serves the whole file, and a
 * well-behaved pair keeps exchanging messages after every attack.
 */
describe('hostile MQTT input', () => {
  let t: TestBroker;
  let bystanderSub: MqttClient;
  let bystanderPub: MqttClient;
  let round = 0;

  const bystandersStillServed = async (): Promise<void> => {
    const payload = `round-${round++}`;
    const arriving = nextMessages(bystanderSub, 1);
    await bystanderPub.publishAsync('bystander/x', payload, { qos: 1 });
    expect((await arriving)[0]?.payload.toString()).toBe(payload);
  };

  beforeAll(async () => {
    t = await startBroker({ mqtt: { maxPacketBytes: 64 * 1024 } });
    bystanderSub = await connect(t.mqttPort, { protocolVersion: 5, clientId: 'bystander-sub' });
    await bystanderSub.subscribeAsync('bystander/#', { qos: 1 });
    bystanderPub = await connect(t.mqttPort, { protocolVersion: 4, clientId: 'bystander-pub' });
  });
  afterAll(async () => {
    await end(bystanderSub, bystanderPub);
    await t.close();
  });

  it('closes, without CONNACK, a connection that starts with garbage', async () => {
    const r = await RawMqtt.open(t.mqttPort, 4);
    r.writeRaw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await r.closed();
    expect(r.packets).toEqual([]);
    await bystandersStillServed();
  });

  it('closes a connection whose first packet is not CONNECT', async () => {
    const r = await RawMqtt.open(t.mqttPort, 4);
    r.send({ cmd: 'publish', topic: 'bystander/x', payload: Buffer.from('sneaky'), qos: 0, retain: false, dup: false });
    await r.closed();
    expect(r.packets).toEqual([]);
    await bystandersStillServed();
  });

  it('answers a malformed packet from a v5 client with DISCONNECT 0x81', async () => {
    const r = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'malformed' });
    // SUBSCRIBE with the reserved flag bits wrong (must be 0b0010) [MQTT-3.8.1-1]
    r.writeRaw(Buffer.from([0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61]));
    const disconnect = (await r.next('disconnect')) as IDisconnectPacket;
    expect(disconnect.reasonCode).toBe(0x81);
    await r.closed();
    await bystandersStillServed();
  });

  it('closes a v3.1.1 client that sends a malformed packet', async () => {
    const r = await RawMqtt.connected(t.mqttPort, 4, { clientId: 'malformed-4' });
    r.writeRaw(Buffer.from([0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61]));
    await r.closed();
    await bystandersStillServed();
  });

  it('answers an oversized packet with DISCONNECT 0x95 (v5) before reading its body', async () => {
    const r = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'huge' });
    // PUBLISH claiming a 200 MB remaining length; only the header is ever sent.
    r.writeRaw(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x5f, 0x00, 0x01, 0x61]));
    const disconnect = (await r.next('disconnect')) as IDisconnectPacket;
    expect(disconnect.reasonCode).toBe(0x95);
    await r.closed();
    await bystandersStillServed();
  });

  it('advertises its maximum packet size to v5 clients', async () => {
    const r = await RawMqtt.open(t.mqttPort, 5);
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'caps', keepalive: 0 });
    const connack = (await r.next('connack')) as IConnackPacket;
    expect(connack.properties?.maximumPacketSize).toBe(64 * 1024);
    r.destroy();
  });

  it('closes a v3.1.1 client that sends an oversized packet', async () => {
    const r = await RawMqtt.connected(t.mqttPort, 4, { clientId: 'huge-4' });
    r.send({ cmd: 'publish', topic: 'bystander/x', payload: Buffer.alloc(100 * 1024), qos: 0, retain: false, dup: false });
    await r.closed();
    await bystandersStillServed();
  });

  it.each([
    ['a wildcard in a topic name', 'bystander/+'],
    ['an empty topic name', ''],
  ])('answers %s with DISCONNECT 0x90 and does not route it', async (_what, topic) => {
    const r = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'bad-topic' });
    r.send({ cmd: 'publish', topic, payload: Buffer.from('nope'), qos: 1, messageId: 1, retain: false, dup: false });
    const disconnect = (await r.next('disconnect')) as IDisconnectPacket;
    expect(disconnect.reasonCode).toBe(0x90);
    await r.closed();
    await bystandersStillServed();
  });

  it('answers an invalid topic filter with DISCONNECT 0x8F', async () => {
    const r = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'bad-filter' });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#/b', qos: 0 }] });
    const disconnect = (await r.next('disconnect')) as IDisconnectPacket;
    expect(disconnect.reasonCode).toBe(0x8f);
    await r.closed();
    await bystandersStillServed();
  });

  it('closes a connection whose topic is not valid UTF-8', async () => {
    const r = await RawMqtt.connected(t.mqttPort, 4, { clientId: 'bad-utf8' });
    // PUBLISH QoS 0, topic length 2, bytes 0xC3 0x28 (an invalid UTF-8 sequence), payload "x"
    r.writeRaw(Buffer.from([0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 0x78]));
    await r.closed();
    await bystandersStillServed();
  });

  it('answers a second CONNECT with DISCONNECT 0x82 (v5) and closes (v3.1.1)', async () => {
    const v5 = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'twice-5' });
    v5.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'twice-5', keepalive: 0 });
    expect(((await v5.next('disconnect')) as IDisconnectPacket).reasonCode).toBe(0x82);
    await v5.closed();
    const v4 = await RawMqtt.connected(t.mqttPort, 4, { clientId: 'twice-4' });
    v4.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'twice-4', keepalive: 0 });
    await v4.closed();
    await bystandersStillServed();
  });

  it('survives a truncated packet followed by a hang-up, and many half-open sockets', async () => {
    const sockets = await Promise.all(Array.from({ length: 50 }, () => RawMqtt.open(t.mqttPort, 4)));
    for (const s of sockets) s.writeRaw(Buffer.from([0x10, 0x20, 0x00, 0x04, 0x4d]));
    for (const s of sockets) s.destroy();
    await bystandersStillServed();
  });

  it('refuses an unknown protocol version with return code 1', async () => {
    const r = await RawMqtt.open(t.mqttPort, 4);
    // CONNECT with protocol level 6
    r.writeRaw(Buffer.from([0x10, 0x0e, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x00, 0x00, 0x02, 0x69, 0x64]));
    await r.closed();
    const connack = r.packets.find((p) => p.cmd === 'connack') as IConnackPacket | undefined;
    if (connack) expect(connack.returnCode).toBe(1);
    await bystandersStillServed();
  });
});
