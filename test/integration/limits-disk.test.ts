import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { IPubackPacket, IPublishPacket, IPubrecPacket } from 'mqtt-packet';
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

/** A floor above what the temp dir's file system has free: the watermark is hit from the start. */
async function diskFull(): Promise<Partial<LimitsConfig>> {
  const fs = await statfs(tmpdir());
  return { diskMinFreeBytes: fs.bavail * fs.bsize + 1024 * 1024 * 1024 };
}

function withLimits(limits: Partial<LimitsConfig>): Promise<TestBroker> {
  return startBroker({ limits: { ...configDefaults().limits, ...limits } });
}

async function mqtt(version: 4 | 5): Promise<RawMqtt> {
  const raw = await RawMqtt.connected(tb!.mqttPort, version, { clientId: `c${Math.random()}` });
  peers.push(raw);
  return raw;
}

describe('limits.diskMinFreeBytes', () => {
  it('MQTT 5: QoS 1 gets PUBACK 0x97 and QoS 2 PUBREC 0x97; QoS 0 still reaches live subscribers', async () => {
    tb = await withLimits(await diskFull());
    const subscriber = await mqtt(5);
    subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't/#', qos: 1 }] });
    await subscriber.next('suback');
    const publisher = await mqtt(5);
    publisher.send({ cmd: 'publish', topic: 't/1', payload: Buffer.from('q1'), qos: 1, retain: false, dup: false, messageId: 1 });
    expect(((await publisher.next('puback')) as IPubackPacket).reasonCode).toBe(0x97);
    publisher.send({ cmd: 'publish', topic: 't/2', payload: Buffer.from('q2'), qos: 2, retain: false, dup: false, messageId: 2 });
    expect(((await publisher.next('pubrec')) as IPubrecPacket).reasonCode).toBe(0x97);
    publisher.send({ cmd: 'publish', topic: 't/0', payload: Buffer.from('q0'), qos: 0, retain: false, dup: false });
    const delivered = (await subscriber.next('publish')) as IPublishPacket;
    expect(delivered.topic).toBe('t/0');
    expect(publisher.isClosed).toBe(false);
    // Nothing refused was delivered.
    expect(subscriber.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });

  it('MQTT 3.1.1: a QoS 1 publish closes the connection unacknowledged (no reason code exists)', async () => {
    tb = await withLimits(await diskFull());
    const publisher = await mqtt(4);
    publisher.send({ cmd: 'publish', topic: 't/1', payload: Buffer.from('q1'), qos: 1, retain: false, dup: false, messageId: 1 });
    await publisher.closed();
    expect(publisher.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
  });

  it('STOMP: SEND to a queue or with persistent:true gets an ERROR naming its receipt; a plain topic SEND flows', async () => {
    tb = await withLimits(await diskFull());
    const consumer = await RawStomp.connected(tb.stompPort);
    peers.push(consumer.socket);
    consumer.send('SUBSCRIBE', { id: '1', destination: '/topic/t/live', receipt: 's' });
    await consumer.next('RECEIPT');
    const producer = await RawStomp.connected(tb.stompPort);
    peers.push(producer.socket);
    producer.send('SEND', { destination: '/topic/t/live', receipt: 'r1' }, 'live');
    expect(header(await producer.next('RECEIPT'), 'receipt-id')).toBe('r1');
    expect((await consumer.next('MESSAGE')).body.toString()).toBe('live');
    producer.send('SEND', { destination: '/queue/work', receipt: 'r2' }, 'job');
    const error = await producer.next('ERROR');
    expect(header(error, 'receipt-id')).toBe('r2');
    expect(error.body.toString()).toMatch(/store full/);
    await producer.closed();

    const persistent = await RawStomp.connected(tb.stompPort);
    peers.push(persistent.socket);
    persistent.send('SEND', { destination: '/topic/t/live', persistent: 'true', receipt: 'r3' }, 'kept');
    expect(header(await persistent.next('ERROR'), 'receipt-id')).toBe('r3');
    await persistent.closed();
  });
});

describe('limits.storeMaxBytes', () => {
  it('refuses persistent messages once the store is larger than the cap', async () => {
    tb = await withLimits({ storeMaxBytes: 1 });
    const publisher = await mqtt(5);
    publisher.send({ cmd: 'publish', topic: 't/1', payload: Buffer.from('q1'), qos: 1, retain: false, dup: false, messageId: 1 });
    expect(((await publisher.next('puback')) as IPubackPacket).reasonCode).toBe(0x97);
  });

  it('accepts persistent messages while the store is under its limits', async () => {
    tb = await withLimits({ storeMaxBytes: 1024 * 1024 * 1024, diskMinFreeBytes: 1 });
    const publisher = await mqtt(5);
    publisher.send({ cmd: 'publish', topic: 't/1', payload: Buffer.from('q1'), qos: 1, retain: false, dup: false, messageId: 1 });
    expect(((await publisher.next('puback')) as IPubackPacket).reasonCode ?? 0).toBe(0);
  });
});
