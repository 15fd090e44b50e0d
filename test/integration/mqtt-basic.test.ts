import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end, messagesWithin, nextMessages, type ProtocolVersion } from '../helpers/mqtt.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';

describe.each([3, 4, 5] as ProtocolVersion[])('MQTT protocol version %i', (protocolVersion) => {
  let t: TestBroker;
  const clients: MqttClient[] = [];
  const open = async (options = {}): Promise<MqttClient> => {
    const c = await connect(t.mqttPort, { protocolVersion, ...options });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    t = await startBroker();
  });
  afterEach(async () => {
    await end(...clients.splice(0));
    await t.close();
  });

  it.each([0, 1, 2] as const)('delivers a QoS %i publish to a wildcard subscriber at that QoS', async (qos) => {
    const sub = await open({ clientId: `sub-${protocolVersion}-${qos}` });
    await sub.subscribeAsync('sensors/+/temp', { qos });
    const pub = await open();
    const arriving = nextMessages(sub, 1);
    await pub.publishAsync('sensors/kitchen/temp', Buffer.from([0, 1, 2, 255]), { qos });
    const [msg] = await arriving;
    expect(msg?.topic).toBe('sensors/kitchen/temp');
    expect(msg?.payload).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(msg?.qos).toBe(qos);
  });

  it('downgrades delivery to the granted QoS of the subscription', async () => {
    const sub = await open();
    await sub.subscribeAsync('a/#', { qos: 1 });
    const pub = await open();
    const arriving = nextMessages(sub, 1);
    await pub.publishAsync('a/b', 'x', { qos: 2 });
    expect((await arriving)[0]?.qos).toBe(1);
  });

  it('sends retained messages on a wildcard subscribe and clears them with an empty payload', async () => {
    const pub = await open();
    await pub.publishAsync('home/livingroom/lamp', 'on', { qos: 1, retain: true });
    await pub.publishAsync('home/kitchen/lamp', 'off', { qos: 1, retain: true });
    const sub = await open();
    const arriving = nextMessages(sub, 2);
    await sub.subscribeAsync('home/+/lamp', { qos: 1 });
    const got = await arriving;
    expect(got.map((m) => `${m.topic}=${m.payload.toString()}`).sort()).toEqual(['home/kitchen/lamp=off', 'home/livingroom/lamp=on']);
    expect(got.every((m) => m.retain)).toBe(true);

    await pub.publishAsync('home/kitchen/lamp', '', { qos: 1, retain: true });
    const late = await open();
    const lateArriving = nextMessages(late, 1);
    await late.subscribeAsync('home/#', { qos: 1 });
    expect((await lateArriving).map((m) => m.topic)).toEqual(['home/livingroom/lamp']);
    expect(await messagesWithin(late, 200)).toEqual([]);
  });

  it('publishes the will when a client drops without DISCONNECT', async () => {
    const watcher = await open();
    await watcher.subscribeAsync('status/+', { qos: 1 });
    const dying = await open({ clientId: `dying-${protocolVersion}`, will: { topic: 'status/dying', payload: Buffer.from('gone'), qos: 1, retain: false } });
    const arriving = nextMessages(watcher, 1);
    (dying as unknown as { stream: { destroy(): void } }).stream.destroy();
    const [will] = await arriving;
    expect(will?.topic).toBe('status/dying');
    expect(will?.payload.toString()).toBe('gone');
  });

  it('does not publish the will after a clean DISCONNECT', async () => {
    const watcher = await open();
    await watcher.subscribeAsync('status/+', { qos: 1 });
    const leaving = await open({ will: { topic: 'status/leaving', payload: Buffer.from('gone'), qos: 1, retain: false } });
    await leaving.endAsync();
    expect(await messagesWithin(watcher, 300)).toEqual([]);
  });

  it('does not match $-topics with a leading wildcard', async () => {
    const sub = await open();
    await sub.subscribeAsync('#', { qos: 0 });
    const pub = await open();
    await pub.publishAsync('$internal/x', 'hidden', { qos: 1 });
    await pub.publishAsync('visible/x', 'shown', { qos: 1 });
    const got = await messagesWithin(sub, 300);
    expect(got.map((m) => m.topic)).toEqual(['visible/x']);
  });
});

describe('the DUP flag', () => {
  let t: TestBroker;
  const raws: RawMqtt[] = [];
  beforeEach(async () => {
    t = await startBroker();
  });
  afterEach(async () => {
    for (const r of raws.splice(0)) r.destroy();
    await t.close();
  });

  it.each([4, 5] as const)('is not passed on, and is 0 on a QoS 0 delivery (v%i) [MQTT-3.3.1-2] [MQTT-3.3.1-3]', async (version) => {
    const sub = await RawMqtt.connected(t.mqttPort, version, { clientId: `dup-sub-${version}` });
    raws.push(sub);
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'dup/#', qos: 0 }] });
    await sub.next('suback');
    const pub = await RawMqtt.connected(t.mqttPort, version, { clientId: `dup-pub-${version}` });
    raws.push(pub);
    pub.send({ cmd: 'publish', topic: 'dup/x', payload: Buffer.from('again'), qos: 1, messageId: 7, dup: true, retain: false });
    await pub.next('puback');
    const delivered = await sub.next('publish');
    expect(delivered).toMatchObject({ topic: 'dup/x', qos: 0, dup: false });
  });
});
