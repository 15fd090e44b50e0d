import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { IConnackPacket, IPubackPacket, IPublishPacket, ISubackPacket } from 'mqtt-packet';
import { hashPassword } from '../../src/auth/index.js';
import { header } from '../../protocols/stomp/codec.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end, messagesWithin } from '../helpers/mqtt.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { RawStomp, stompPort } from '../helpers/stomp.js';

/**
 * One users file and one ACL, asked the same questions over MQTT 3.1.1,
 * MQTT 5, STOMP and MQTT over WebSocket: the answers must agree.
 */
describe('authentication and ACL across protocols', () => {
  let t: TestBroker;

  beforeAll(async () => {
    t = await startBroker();
    await t.stop();
    const usersFile = join(t.dataDir, 'users.yaml');
    await writeFile(
      usersFile,
      `users:\n  alice:\n    password: ${await hashPassword('wonderland')}\n    groups: [ops]\n  bob:\n    password: ${await hashPassword('builder')}\n`,
    );
    t = await startBroker({
      dataDir: t.dataDir,
      auth: {
        usersFile,
        allowAnonymous: false,
        useCertificateCnAsUsername: false,
        acl: [
          { allow: { publish: ['plant/%u/#'], subscribe: ['plant/#'], produce: ['orders'], consume: ['orders'] }, groups: ['ops'] },
          { allow: { publish: ['devices/%c/status'], subscribe: ['devices/%c/#'] } },
        ],
      },
    });
  });
  afterAll(async () => {
    await t.close();
  });

  const raw = async (version: 4 | 5, username?: string, password?: string, clientId = 'c1'): Promise<RawMqtt> => {
    const r = await RawMqtt.open(t.mqttPort, version);
    r.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clean: true,
      clientId,
      keepalive: 0,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password: Buffer.from(password) }),
    });
    return r;
  };

  it.each([
    [4, 'alice', 'wrong', 4],
    [4, undefined, undefined, 5],
    [5, 'alice', 'wrong', 0x86],
    [5, 'nobody', 'x', 0x86],
    [5, undefined, undefined, 0x87],
  ] as const)('MQTT v%i %s/%s is refused with %i', async (version, username, password, code) => {
    const r = await raw(version, username, password);
    const connack = (await r.next('connack')) as IConnackPacket;
    expect(version === 5 ? connack.reasonCode : connack.returnCode).toBe(code);
    await r.closed();
  });

  it('MQTT 3.1.1: a forbidden publish is acknowledged and dropped; a forbidden subscribe gets 0x80', async () => {
    const watcher = await connect(t.mqttPort, { protocolVersion: 5, username: 'alice', password: 'wonderland', clientId: 'w1' });
    await watcher.subscribeAsync('plant/#', { qos: 1 });
    const bobSees = messagesWithin(watcher, 400);
    const r = await raw(4, 'bob', 'builder', 'bob-4');
    expect(((await r.next('connack')) as IConnackPacket).returnCode).toBe(0);
    r.send({ cmd: 'publish', topic: 'plant/bob/x', payload: Buffer.from('no'), qos: 1, messageId: 7, retain: false, dup: false });
    expect((await r.next('puback')).messageId).toBe(7);
    r.send({ cmd: 'subscribe', messageId: 8, subscriptions: [{ topic: 'plant/#', qos: 1 }, { topic: 'devices/bob-4/#', qos: 1 }] });
    expect(((await r.next('suback')) as ISubackPacket).granted).toEqual([0x80, 1]);
    expect(await bobSees).toEqual([]);
    r.destroy();
    await end(watcher);
  });

  it('MQTT 5: a forbidden publish gets PUBACK 0x87 and a forbidden subscribe SUBACK 0x87; %u and %c apply', async () => {
    const watcher = await connect(t.mqttPort, { protocolVersion: 5, username: 'alice', password: 'wonderland', clientId: 'w2' });
    await watcher.subscribeAsync('plant/#', { qos: 1 });
    const arriving = messagesWithin(watcher, 500);
    const r = await raw(5, 'alice', 'wonderland', 'alice-5');
    expect(((await r.next('connack')) as IConnackPacket).reasonCode).toBe(0);
    r.send({ cmd: 'publish', topic: 'plant/alice/temp', payload: Buffer.from('ok'), qos: 1, messageId: 1, retain: false, dup: false });
    expect(((await r.next('puback')) as IPubackPacket).reasonCode ?? 0).toBe(0);
    r.send({ cmd: 'publish', topic: 'plant/bob/temp', payload: Buffer.from('spoof'), qos: 1, messageId: 2, retain: false, dup: false });
    expect(((await r.next('puback')) as IPubackPacket).reasonCode).toBe(0x87);
    r.send({ cmd: 'publish', topic: 'devices/alice-5/status', payload: Buffer.from('up'), qos: 1, messageId: 3, retain: false, dup: false });
    expect(((await r.next('puback')) as IPubackPacket).reasonCode ?? 0).toBe(0);
    r.send({ cmd: 'publish', topic: 'devices/other/status', payload: Buffer.from('spoof'), qos: 1, messageId: 4, retain: false, dup: false });
    expect(((await r.next('puback')) as IPubackPacket).reasonCode).toBe(0x87);
    r.send({ cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: 'devices/other/#', qos: 1 }, { topic: 'devices/alice-5/#', qos: 1 }] });
    expect(((await r.next('suback')) as ISubackPacket).granted).toEqual([0x87, 1]);
    r.send({ cmd: 'publish', topic: '$SYS/fake', payload: Buffer.from('x'), qos: 1, messageId: 6, retain: false, dup: false });
    expect(((await r.next('puback')) as IPubackPacket).reasonCode).toBe(0x87);
    expect((await arriving).map((m: IPublishPacket) => m.payload.toString())).toEqual(['ok']);
    r.destroy();
    await end(watcher);
  });

  it('STOMP: bad login is refused; a forbidden SEND or SUBSCRIBE gets ERROR naming the destination', async () => {
    const bad = await RawStomp.open(stompPort(t));
    bad.send('CONNECT', { 'accept-version': '1.2', host: 'roost', login: 'alice', passcode: 'wrong' });
    expect((await bad.next('ERROR')).command).toBe('ERROR');
    await bad.closed();

    const alice = await RawStomp.connected(stompPort(t), { login: 'alice', passcode: 'wonderland' });
    alice.send('SEND', { destination: '/queue/orders', receipt: 'r1' }, 'order');
    expect(header(await alice.next('RECEIPT'), 'receipt-id')).toBe('r1');
    alice.send('SUBSCRIBE', { id: 's', destination: '/queue/orders', ack: 'auto' });
    expect((await alice.next('MESSAGE')).body.toString()).toBe('order');
    alice.send('SEND', { destination: '/topic/plant/bob/x' }, 'spoof');
    const error = await alice.next('ERROR');
    expect(header(error, 'message')).toContain('/topic/plant/bob/x');
    await alice.closed();

    const bob = await RawStomp.connected(stompPort(t), { login: 'bob', passcode: 'builder' });
    bob.send('SUBSCRIBE', { id: 's', destination: '/queue/orders' });
    expect(header(await bob.next('ERROR'), 'message')).toContain('/queue/orders');
    await bob.closed();
  });

  it('MQTT over WebSocket gets the same answers', async () => {
    const url = `ws://127.0.0.1:${t.broker.ports.http}/mqtt`;
    const refused = mqtt.connect(url, { protocolVersion: 5, username: 'alice', password: 'wrong', reconnectPeriod: 0 });
    const err = await new Promise<Error & { code?: number }>((resolve) => refused.once('error', resolve));
    expect(err.code).toBe(0x86);
    refused.end(true);
    const ok = mqtt.connect(url, { protocolVersion: 5, username: 'alice', password: 'wonderland', reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      ok.once('connect', () => resolve());
      ok.once('error', reject);
    });
    expect((await ok.subscribeAsync('plant/#', { qos: 1 }))[0]?.qos).toBe(1);
    await expect(ok.subscribeAsync('devices/x/#', { qos: 1 })).rejects.toThrow(/Not authorized/);
    await ok.endAsync(true);
  });
});
