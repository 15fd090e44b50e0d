import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IConnackPacket, IDisconnectPacket, IPublishPacket, MqttClient } from 'mqtt';
import type { IConnackPacket as RawConnack } from 'mqtt-packet';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end, messagesWithin, nextMessages } from '../helpers/mqtt.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';

describe('MQTT 5 behaviour', () => {
  let t: TestBroker;
  const clients: MqttClient[] = [];
  const raws: RawMqtt[] = [];
  const open = async (options = {}): Promise<MqttClient> => {
    const c = await connect(t.mqttPort, { protocolVersion: 5, ...options });
    clients.push(c);
    return c;
  };
  const raw = async (connect = {}): Promise<RawMqtt> => {
    const r = await RawMqtt.connected(t.mqttPort, 5, connect);
    raws.push(r);
    return r;
  };

  beforeEach(async () => {
    t = await startBroker({ mqtt: { receiveMaximum: 3 } });
  });
  afterEach(async () => {
    for (const r of raws.splice(0)) r.destroy();
    await end(...clients.splice(0));
    await t.close();
  });

  it("holds QoS 1 deliveries beyond the client's Receive Maximum until it acknowledges", async () => {
    const sub = await raw({ clientId: 'slow-acker', properties: { receiveMaximum: 2 } });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rm/#', qos: 1 }] });
    await sub.next('suback');
    const pub = await open();
    for (let i = 0; i < 5; i++) await pub.publishAsync('rm/x', String(i), { qos: 1 });
    const first = (await sub.next('publish')) as IPublishPacket;
    const second = (await sub.next('publish')) as IPublishPacket;
    await expect(sub.next('publish', 300)).rejects.toThrow(/no publish/);
    sub.send({ cmd: 'puback', messageId: first.messageId as number });
    const third = (await sub.next('publish')) as IPublishPacket;
    expect([first, second, third].map((p) => p.payload.toString())).toEqual(['0', '1', '2']);
    await expect(sub.next('publish', 300)).rejects.toThrow(/no publish/);
    sub.send({ cmd: 'puback', messageId: second.messageId as number });
    sub.send({ cmd: 'puback', messageId: third.messageId as number });
    const rest = [(await sub.next('publish')) as IPublishPacket, (await sub.next('publish')) as IPublishPacket];
    expect(rest.map((p) => p.payload.toString())).toEqual(['3', '4']);
  });

  it("disconnects with 0x93 a client that exceeds the broker's Receive Maximum", async () => {
    const pub = await raw({ clientId: 'flooder' });
    for (let id = 1; id <= 4; id++) {
      pub.send({ cmd: 'publish', topic: 'rm/q2', payload: Buffer.from('x'), qos: 2, messageId: id, retain: false, dup: false });
    }
    const disconnect = (await pub.next('disconnect')) as IDisconnectPacket;
    expect(disconnect.reasonCode).toBe(0x93);
    await pub.closed();
    expect(pub.packets.filter((p) => p.cmd === 'disconnect')).toHaveLength(0);
  });

  it('advertises its Receive Maximum and shared subscriptions in CONNACK', async () => {
    const r = await RawMqtt.open(t.mqttPort, 5);
    raws.push(r);
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'caps', keepalive: 0 });
    const connack = (await r.next('connack')) as RawConnack;
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties?.receiveMaximum).toBe(3);
    expect(connack.properties?.sharedSubscriptionAvailable).not.toBe(false);
  });

  it("skips messages larger than the client's Maximum Packet Size", async () => {
    const sub = await open({ properties: { maximumPacketSize: 200 } });
    await sub.subscribeAsync('big/#', { qos: 1 });
    const pub = await open();
    const arriving = messagesWithin(sub, 500);
    await pub.publishAsync('big/a', 'small-1', { qos: 1 });
    await pub.publishAsync('big/b', Buffer.alloc(1_000, 1), { qos: 1 });
    await pub.publishAsync('big/c', Buffer.alloc(1_000, 1), { qos: 0 });
    await pub.publishAsync('big/d', 'small-2', { qos: 1 });
    expect((await arriving).map((m) => m.payload.toString())).toEqual(['small-1', 'small-2']);
  });

  it('delivers queued messages to a session resumed without a Session Expiry property', async () => {
    const first = await open({ clientId: 'resumer', clean: false, properties: { sessionExpiryInterval: 300 } });
    await first.subscribeAsync('resume/#', { qos: 1 });
    await first.endAsync();
    const pub = await open();
    for (let i = 0; i < 3; i++) await pub.publishAsync('resume/x', `m${i}`, { qos: 1 });
    const again = await connect(t.mqttPort, { protocolVersion: 5, clientId: 'resumer', clean: false, manualConnect: false });
    clients.push(again);
    const got = await nextMessages(again, 3);
    expect(got.map((m) => m.payload.toString())).toEqual(['m0', 'm1', 'm2']);
  });

  it('publishes a delayed will after the delay, without the Will Delay Interval property', async () => {
    const watcher = await open();
    await watcher.subscribeAsync('will/#', { qos: 1 });
    const dying = await open({
      clientId: 'delayed-will',
      properties: { sessionExpiryInterval: 10 },
      will: { topic: 'will/x', payload: Buffer.from('bye'), qos: 1, retain: false, properties: { willDelayInterval: 1, contentType: 'text/plain' } },
    });
    const droppedAt = Date.now();
    const arriving = nextMessages(watcher, 1, 5_000);
    (dying as unknown as { stream: { destroy(): void } }).stream.destroy();
    const [will] = await arriving;
    expect(Date.now() - droppedAt).toBeGreaterThanOrEqual(900);
    expect(will?.payload.toString()).toBe('bye');
    expect(will?.properties?.contentType).toBe('text/plain');
    expect(will?.properties).not.toHaveProperty('willDelayInterval');
  });

  it('carries every matching subscription identifier, once, at the highest granted QoS', async () => {
    const sub = await open();
    await sub.subscribeAsync('ids/+', { qos: 0, properties: { subscriptionIdentifier: 7 } });
    await sub.subscribeAsync('ids/#', { qos: 1, properties: { subscriptionIdentifier: 9 } });
    const pub = await open();
    const arriving = messagesWithin(sub, 400);
    await pub.publishAsync('ids/a', 'x', { qos: 1 });
    const got = await arriving;
    expect(got).toHaveLength(1);
    expect(got[0]?.qos).toBe(1);
    const ids = got[0]?.properties?.subscriptionIdentifier;
    expect([ids].flat().sort()).toEqual([7, 9]);
  });

  it('balances a $share group: each message to exactly one member', async () => {
    const a = await open({ clientId: 'worker-a' });
    const b = await open({ clientId: 'worker-b' });
    const granted = await a.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
    expect(granted[0]?.qos).toBe(1);
    await b.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
    const plain = await open();
    await plain.subscribeAsync('jobs/#', { qos: 1 });
    const gotA = messagesWithin(a, 600);
    const gotB = messagesWithin(b, 600);
    const gotPlain = messagesWithin(plain, 600);
    const pub = await open();
    for (let i = 0; i < 10; i++) await pub.publishAsync(`jobs/${i}`, String(i), { qos: 1 });
    const [ra, rb, rp] = await Promise.all([gotA, gotB, gotPlain]);
    expect(ra.length).toBeGreaterThan(0);
    expect(rb.length).toBeGreaterThan(0);
    expect([...ra, ...rb].map((m) => Number(m.payload.toString())).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(rp).toHaveLength(10);
  });

  it('refuses No Local on a shared subscription with DISCONNECT 0x82', async () => {
    const r = await raw({ clientId: 'nl-share' });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/x', qos: 1, nl: true }] });
    const disconnect = (await r.next('disconnect')) as IDisconnectPacket;
    expect(disconnect.reasonCode).toBe(0x82);
    await r.closed();
  });

  it('keeps delivering to others while a QoS 2 flooder stops reading', async () => {
    const flooder = await raw({ clientId: 'q2-flooder', properties: { receiveMaximum: 65535 } });
    flooder.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 2 }] });
    await flooder.next('suback');
    flooder.socket.pause();
    const big = Buffer.alloc(16 * 1024, 7);
    for (let id = 1; id <= 400; id++) {
      flooder.send({ cmd: 'publish', topic: 'flood/x', payload: big, qos: 2, messageId: id, retain: false, dup: false });
      flooder.send({ cmd: 'pubrel', messageId: id });
    }
    const watcher = await open();
    await watcher.subscribeAsync('flood/y', { qos: 1 });
    // MQTT.js does not keep to the broker's Receive Maximum; 3.1.1 has none.
    const pub = await open({ protocolVersion: 4 });
    const arriving = nextMessages(watcher, 50, 10_000);
    for (let i = 0; i < 50; i++) pub.publish('flood/y', String(i), { qos: 1 });
    const got = await arriving;
    expect(got.map((m) => m.payload.toString())).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
  });
});

describe('MQTT 3.1.1 client identifiers', () => {
  let t: TestBroker;
  beforeEach(async () => {
    t = await startBroker();
  });
  afterEach(async () => {
    await t.close();
  });

  it('rejects an empty client id with clean session 0 (return code 2)', async () => {
    const r = await RawMqtt.open(t.mqttPort, 4);
    // CONNECT, MQTT 3.1.1, flags 0 (clean session 0), keepalive 0, zero-length client id;
    // written by hand because client libraries refuse to encode it.
    r.writeRaw(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0, 0, 0, 0, 0]));
    const connack = (await r.next('connack')) as IConnackPacket;
    expect(connack.returnCode).toBe(2);
    await r.closed();
  });

  it('assigns an id to an empty client id with clean session 1', async () => {
    const r = await RawMqtt.open(t.mqttPort, 4);
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: '', keepalive: 0 });
    const connack = (await r.next('connack')) as IConnackPacket;
    expect(connack.returnCode).toBe(0);
    r.destroy();
  });
});
