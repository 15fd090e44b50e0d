import { Level } from 'level';
import type { IDisconnectPacket, IPubackPacket } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { header } from '../../protocols/stomp/codec.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { RawStomp } from '../helpers/stomp.js';

let tb: TestBroker | undefined;
const peers: Array<{ destroy(): void }> = [];
const batch = Level.prototype.batch;

afterEach(async () => {
  Level.prototype.batch = batch;
  for (const peer of peers.splice(0)) peer.destroy();
  await tb?.close();
  tb = undefined;
});

/** From now on every LevelDB batch write fails the way a full disk makes it fail, array form or chained. */
function failWrites(): void {
  const enospc = (): Error => Object.assign(new Error('IO error: No space left on device'), { code: 'LEVEL_IO_ERROR' });
  Level.prototype.batch = function (this: Level<string, Buffer>, ...args: unknown[]) {
    if (Array.isArray(args[0])) return Promise.reject(enospc());
    // A chained batch (what the store writes) is built as usual; its write fails.
    const chained = (batch as (...a: unknown[]) => { write(): Promise<void>; close(): Promise<void> }).apply(this, args);
    chained.write = () => chained.close().then(() => Promise.reject(enospc()));
    return chained;
  } as typeof batch;
}

describe('a store write that fails (ENOSPC)', () => {
  it('MQTT 5: the publisher gets PUBACK 0x80 and the broker keeps serving', async () => {
    tb = await startBroker();
    const publisher = await RawMqtt.connected(tb.mqttPort, 5, { clientId: 'p' });
    peers.push(publisher);
    failWrites();
    // Retained: the message must be written before it is acknowledged.
    publisher.send({ cmd: 'publish', topic: 't/1', payload: Buffer.from('kept'), qos: 1, retain: true, dup: false, messageId: 1 });
    expect(((await publisher.next('puback')) as IPubackPacket).reasonCode).toBe(0x80);
    Level.prototype.batch = batch;
    publisher.send({ cmd: 'publish', topic: 't/1', payload: Buffer.from('kept'), qos: 1, retain: true, dup: false, messageId: 2 });
    expect(((await publisher.next('puback')) as IPubackPacket).reasonCode ?? 0).toBe(0);
  });

  it('MQTT 5: a retained QoS 0 publish that cannot be kept ends the connection with DISCONNECT 0x80, not a protocol error; others are unaffected', async () => {
    tb = await startBroker();
    const publisher = await RawMqtt.connected(tb.mqttPort, 5, { clientId: 'p' });
    const other = await RawMqtt.connected(tb.mqttPort, 5, { clientId: 'o' });
    peers.push(publisher, other);
    failWrites();
    publisher.send({ cmd: 'publish', topic: 't/1', payload: Buffer.from('kept'), qos: 0, retain: true, dup: false });
    expect(((await publisher.next('disconnect')) as IDisconnectPacket).reasonCode).toBe(0x80);
    await publisher.closed();
    other.send({ cmd: 'pingreq' });
    await other.next('pingresp');
  });

  it('MQTT 3.1.1: the publisher is disconnected unacknowledged, others are unaffected', async () => {
    tb = await startBroker();
    const publisher = await RawMqtt.connected(tb.mqttPort, 4, { clientId: 'p' });
    const other = await RawMqtt.connected(tb.mqttPort, 4, { clientId: 'o' });
    peers.push(publisher, other);
    failWrites();
    publisher.send({ cmd: 'publish', topic: 't/1', payload: Buffer.from('kept'), qos: 1, retain: true, dup: false, messageId: 1 });
    await publisher.closed();
    expect(publisher.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
    other.send({ cmd: 'pingreq' });
    await other.next('pingresp');
  });

  it('STOMP: a SEND to a queue gets an ERROR naming its receipt', async () => {
    tb = await startBroker();
    const producer = await RawStomp.connected(tb.stompPort);
    peers.push(producer.socket);
    producer.send('SEND', { destination: '/queue/warmup', receipt: 'r0' }, 'job');
    await producer.next('RECEIPT');
    failWrites();
    producer.send('SEND', { destination: '/queue/warmup', receipt: 'r1' }, 'job');
    const error = await producer.next('ERROR');
    expect(header(error, 'receipt-id')).toBe('r1');
    await producer.closed();
  });
});
