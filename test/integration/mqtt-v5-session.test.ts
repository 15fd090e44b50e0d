import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IDisconnectPacket, MqttClient } from 'mqtt';
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end, messagesWithin, nextMessages } from '../helpers/mqtt.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';

describe('MQTT 5 properties, aliases and sessions', () => {
  let t: TestBroker;
  const clients: MqttClient[] = [];
  const raws: RawMqtt[] = [];
  const open = async (options = {}): Promise<MqttClient> => {
    const c = await connect(t.mqttPort, { protocolVersion: 5, ...options });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    t = await startBroker();
  });
  afterEach(async () => {
    for (const r of raws.splice(0)) r.destroy();
    await end(...clients.splice(0));
    await t.close();
  });

  it('carries user properties, content type, response topic, correlation data and payload format intact', async () => {
    const sub = await open();
    await sub.subscribeAsync('req/#', { qos: 1 });
    const pub = await open();
    const arriving = nextMessages(sub, 1);
    const correlationData = Buffer.from([0, 0xff, 0x10, 0x80]);
    await pub.publishAsync('req/lamp', Buffer.from([0xde, 0xad, 0xbe, 0xef]), {
      qos: 1,
      properties: {
        userProperties: { site: 'plant-7', tag: ['a', 'b'] },
        contentType: 'application/octet-stream',
        responseTopic: 'resp/lamp',
        correlationData,
        payloadFormatIndicator: false,
      },
    });
    const [msg] = await arriving;
    expect(msg?.payload).toEqual(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    expect(msg?.properties?.userProperties).toEqual({ site: 'plant-7', tag: ['a', 'b'] });
    expect(msg?.properties?.contentType).toBe('application/octet-stream');
    expect(msg?.properties?.responseTopic).toBe('resp/lamp');
    expect(msg?.properties?.correlationData).toEqual(correlationData);
  });

  it('counts message expiry down while queued, and drops expired messages', async () => {
    const offline = await open({ clientId: 'expiring', clean: false, properties: { sessionExpiryInterval: 300 } });
    await offline.subscribeAsync('exp/#', { qos: 1 });
    await offline.endAsync();
    const pub = await open();
    await pub.publishAsync('exp/short', 'gone', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('exp/long', 'kept', { qos: 1, properties: { messageExpiryInterval: 100 } });
    await new Promise((r) => setTimeout(r, 1_500));
    const back = await connect(t.mqttPort, { protocolVersion: 5, clientId: 'expiring', clean: false, properties: { sessionExpiryInterval: 300 } });
    clients.push(back);
    const got = await messagesWithin(back, 500);
    expect(got.map((m) => m.payload.toString())).toEqual(['kept']);
    const remaining = got[0]?.properties?.messageExpiryInterval ?? 0;
    expect(remaining).toBeGreaterThan(95);
    expect(remaining).toBeLessThanOrEqual(99);
  });

  it('resolves inbound topic aliases', async () => {
    const sub = await open();
    await sub.subscribeAsync('alias/#', { qos: 1 });
    const r = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'aliaser' });
    raws.push(r);
    const arriving = nextMessages(sub, 2);
    r.send({ cmd: 'publish', topic: 'alias/long/topic/name', payload: Buffer.from('1'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    r.send({ cmd: 'publish', topic: '', payload: Buffer.from('2'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    const got = await arriving;
    expect(got.map((m) => `${m.topic}:${m.payload.toString()}`)).toEqual(['alias/long/topic/name:1', 'alias/long/topic/name:2']);
  });

  it('answers an unknown topic alias with DISCONNECT 0x94', async () => {
    const r = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'bad-alias' });
    raws.push(r);
    r.send({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 5 } });
    expect(((await r.next('disconnect')) as IDisconnectPacket).reasonCode).toBe(0x94);
  });

  it('assigns a client identifier to an empty one and says so in CONNACK', async () => {
    const r = await RawMqtt.open(t.mqttPort, 5);
    raws.push(r);
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: '', keepalive: 0 });
    const connack = (await r.next('connack')) as IConnackPacket;
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties?.assignedClientIdentifier).toMatch(/.+/);
  });

  it('ends a session when its expiry interval passes', async () => {
    const first = await open({ clientId: 'short-lived', clean: false, properties: { sessionExpiryInterval: 1 } });
    await first.subscribeAsync('short/#', { qos: 1 });
    await first.endAsync();
    await new Promise((r) => setTimeout(r, 1_600));
    const r = await RawMqtt.open(t.mqttPort, 5);
    raws.push(r);
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: false, clientId: 'short-lived', keepalive: 0 });
    expect(((await r.next('connack')) as IConnackPacket).sessionPresent).toBe(false);
  });

  it('reports a present session to a client that resumes in time', async () => {
    const first = await open({ clientId: 'resumes', clean: false, properties: { sessionExpiryInterval: 60 } });
    await first.subscribeAsync('r/#', { qos: 1 });
    await first.endAsync();
    const r = await RawMqtt.open(t.mqttPort, 5);
    raws.push(r);
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: false, clientId: 'resumes', keepalive: 0, properties: { sessionExpiryInterval: 60 } });
    expect(((await r.next('connack')) as IConnackPacket).sessionPresent).toBe(true);
  });

  it('disconnects a silent client after 1.5 keepalive periods with 0x8D', async () => {
    const r = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'silent', keepalive: 1 });
    raws.push(r);
    const since = Date.now();
    expect(((await r.next('disconnect', 4_000)) as IDisconnectPacket).reasonCode).toBe(0x8d);
    expect(Date.now() - since).toBeGreaterThanOrEqual(1_400);
  });

  it('takes over a session with the same client id, telling the old v5 connection 0x8E', async () => {
    const old = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'twin' });
    raws.push(old);
    const fresh = await RawMqtt.connected(t.mqttPort, 5, { clientId: 'twin' });
    raws.push(fresh);
    expect(((await old.next('disconnect')) as IDisconnectPacket).reasonCode).toBe(0x8e);
    await old.closed();
    fresh.send({ cmd: 'pingreq' });
    expect((await fresh.next('pingresp')).cmd).toBe('pingresp');
  });

  it('honours no-local and retain-as-published', async () => {
    const c = await open({ clientId: 'self' });
    await c.subscribeAsync('nl/#', { qos: 1, nl: true });
    await c.subscribeAsync('rap/#', { qos: 1, rap: true });
    const other = await open();
    await other.subscribeAsync('rap/#', { qos: 1 });
    const mine = messagesWithin(c, 400);
    const theirs = messagesWithin(other, 400);
    await c.publishAsync('nl/x', 'echo?', { qos: 1 });
    await c.publishAsync('rap/x', 'kept-flag', { qos: 1, retain: true });
    const [gotMine, gotTheirs] = await Promise.all([mine, theirs]);
    expect(gotMine.map((m) => [m.topic, m.retain])).toEqual([['rap/x', true]]);
    expect(gotTheirs.map((m) => [m.topic, m.retain])).toEqual([['rap/x', false]]);
  });

  it('honours retain handling 2 (never send retained on subscribe)', async () => {
    const pub = await open();
    await pub.publishAsync('rh/x', 'old', { qos: 1, retain: true });
    const sub = await open();
    await sub.subscribeAsync('rh/#', { qos: 1, rh: 2 });
    expect(await messagesWithin(sub, 300)).toEqual([]);
  });

  it('delivers a will published by the broker with its properties', async () => {
    const watcher = await open();
    await watcher.subscribeAsync('w/#', { qos: 1 });
    const dying = await open({ will: { topic: 'w/x', payload: Buffer.from('bye'), qos: 1, retain: false, properties: { userProperties: { k: 'v' } } } });
    const arriving = nextMessages(watcher, 1);
    (dying as unknown as { stream: { destroy(): void } }).stream.destroy();
    const [will] = (await arriving) as unknown as IPublishPacket[];
    expect(will?.properties?.userProperties).toEqual({ k: 'v' });
  });
});
