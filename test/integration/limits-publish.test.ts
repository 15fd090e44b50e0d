import type { IDisconnectPacket, IPubackPacket, ISubackPacket } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { header } from '../../protocols/stomp/codec.js';
import { configDefaults } from '../../src/config/schema.js';
import type { LimitsConfig } from '../../src/config/types.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { RawStomp } from '../helpers/stomp.js';

let tb: TestBroker | undefined;
const peers: Array<{ destroy(): void }> = [];

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.destroy();
  await tb?.close();
  tb = undefined;
});

function withLimits(limits: Partial<LimitsConfig>): Promise<TestBroker> {
  return startBroker({ limits: { ...configDefaults().limits, ...limits } });
}

async function mqtt(version: 4 | 5): Promise<RawMqtt> {
  const raw = await RawMqtt.connected(tb!.mqttPort, version, { clientId: `c${Math.random()}` });
  peers.push(raw);
  return raw;
}

// One token a minute: the burst is all a test gets.
const SLOW = { publishesPerSecond: 1 / 60, publishBurst: 2 };

describe('limits.publishesPerSecond', () => {
  it('MQTT 5: the publish over the rate gets DISCONNECT 0x96 Message rate too high, and is not acknowledged', async () => {
    tb = await withLimits(SLOW);
    const raw = await mqtt(5);
    for (const messageId of [1, 2, 3]) raw.send({ cmd: 'publish', topic: 't/a', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, messageId });
    expect(((await raw.next('puback')) as IPubackPacket).messageId).toBe(1);
    expect(((await raw.next('puback')) as IPubackPacket).messageId).toBe(2);
    expect(((await raw.next('disconnect')) as IDisconnectPacket).reasonCode).toBe(0x96);
    await raw.closed();
    expect(raw.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
  });

  it('MQTT 5: QoS 0 over the rate ends the connection the same way', async () => {
    tb = await withLimits(SLOW);
    const raw = await mqtt(5);
    for (let i = 0; i < 3; i++) raw.send({ cmd: 'publish', topic: 't/a', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    expect(((await raw.next('disconnect')) as IDisconnectPacket).reasonCode).toBe(0x96);
    await raw.closed();
  });

  it('MQTT 3.1.1: the publish over the rate closes the connection unacknowledged', async () => {
    tb = await withLimits(SLOW);
    const raw = await mqtt(4);
    for (const messageId of [1, 2]) {
      raw.send({ cmd: 'publish', topic: 't/a', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, messageId });
      expect(((await raw.next('puback')) as IPubackPacket).messageId).toBe(messageId);
    }
    raw.send({ cmd: 'publish', topic: 't/a', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, messageId: 3 });
    await raw.closed();
    expect(raw.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
  });

  it('STOMP: the SEND over the rate gets an ERROR naming its receipt, then the close', async () => {
    tb = await withLimits(SLOW);
    const stomp = await RawStomp.connected(tb.stompPort);
    peers.push(stomp.socket);
    for (const receipt of ['r1', 'r2', 'r3']) stomp.send('SEND', { destination: '/topic/t/a', receipt }, 'x');
    expect(header(await stomp.next('RECEIPT'), 'receipt-id')).toBe('r1');
    expect(header(await stomp.next('RECEIPT'), 'receipt-id')).toBe('r2');
    const error = await stomp.next('ERROR');
    expect(header(error, 'receipt-id')).toBe('r3');
    expect(error.body.toString()).toMatch(/publish rate exceeded/);
    await stomp.closed();
  });

  it('admits everything with the default rate of 0', async () => {
    tb = await startBroker();
    const raw = await mqtt(5);
    for (let messageId = 1; messageId <= 50; messageId++) raw.send({ cmd: 'publish', topic: 't/a', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, messageId });
    for (let i = 0; i < 50; i++) expect(((await raw.next('puback')) as IPubackPacket).reasonCode ?? 0).toBe(0);
  });
});

describe('limits.maxSubscriptionsPerClient', () => {
  const subscribe = (raw: RawMqtt, messageId: number, ...topics: string[]): void =>
    raw.send({ cmd: 'subscribe', messageId, subscriptions: topics.map((topic) => ({ topic, qos: 1 as const })) });

  it('MQTT 5: a filter past the limit gets SUBACK 0x97 Quota exceeded; held filters may be renewed; unsubscribing frees room', async () => {
    tb = await withLimits({ maxSubscriptionsPerClient: 2 });
    const raw = await mqtt(5);
    subscribe(raw, 1, 'a/1', 'a/2', 'a/3');
    expect(((await raw.next('suback')) as ISubackPacket).granted).toEqual([1, 1, 0x97]);
    subscribe(raw, 2, 'a/1');
    expect(((await raw.next('suback')) as ISubackPacket).granted).toEqual([1]);
    subscribe(raw, 3, 'a/4');
    expect(((await raw.next('suback')) as ISubackPacket).granted).toEqual([0x97]);
    raw.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['a/2'] });
    await raw.next('unsuback');
    subscribe(raw, 5, 'a/4');
    expect(((await raw.next('suback')) as ISubackPacket).granted).toEqual([1]);
    expect(raw.isClosed).toBe(false);
  });

  it('MQTT 3.1.1: a filter past the limit gets SUBACK 0x80', async () => {
    tb = await withLimits({ maxSubscriptionsPerClient: 1 });
    const raw = await mqtt(4);
    subscribe(raw, 1, 'a/1', 'a/2');
    expect(((await raw.next('suback')) as ISubackPacket).granted).toEqual([1, 0x80]);
  });
});
