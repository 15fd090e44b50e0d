import { Client, type IFrame, type IMessage } from '@stomp/stompjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import type { IConnackPacket, IPubackPacket, IPublishPacket, ISubackPacket } from 'mqtt-packet';
import { header } from '../../protocols/stomp/codec.js';
import { startBrokerWithUsers, type TestBroker } from '../helpers/broker.js';
import { connect, end, messagesWithin } from '../helpers/mqtt.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { RawStomp, stompPort } from '../helpers/stomp.js';
import { until } from '../helpers/ws.js';

/** A @stomp/stompjs client over ws:// and what happened to it: CONNECTED, an ERROR frame, the socket's close. */
interface WsStompPeer {
  readonly client: Client;
  readonly connected: Promise<void>;
  readonly error: Promise<IFrame>;
  readonly closed: Promise<void>;
}

function wsStomp(url: string, connectHeaders: Record<string, string>): WsStompPeer {
  const client = new Client({
    webSocketFactory: () => new WebSocket(url, ['v12.stomp']),
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    connectHeaders: { host: 'roost', ...connectHeaders },
  });
  const connected = new Promise<void>((resolve) => (client.onConnect = () => resolve()));
  const error = new Promise<IFrame>((resolve) => (client.onStompError = resolve));
  const closed = new Promise<void>((resolve) => (client.onWebSocketClose = () => resolve()));
  client.activate();
  return { client, connected, error, closed };
}

/** Resolves with the first of `promise` and a timeout, so a missing answer fails the test instead of hanging it. */
function within<T>(promise: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Sends with a receipt and waits for it. */
function sendWithReceipt(client: Client, destination: string, body: string, receipt: string): Promise<void> {
  const done = new Promise<void>((resolve) => client.watchForReceipt(receipt, () => resolve()));
  client.publish({ destination, body, headers: { receipt } });
  return within(done, `RECEIPT ${receipt}`);
}

/** Subscribes with a receipt, so what is sent afterwards is sure to find the subscription. */
async function subscribeWithReceipt(client: Client, destination: string, receipt: string): Promise<IMessage[]> {
  const got: IMessage[] = [];
  const done = new Promise<void>((resolve) => client.watchForReceipt(receipt, () => resolve()));
  client.subscribe(destination, (message) => got.push(message), { receipt });
  await within(done, `RECEIPT ${receipt}`);
  return got;
}

/**
 * One users file and one ACL, asked the same questions over MQTT 3.1.1,
 * MQTT 5, STOMP, MQTT over WebSocket and STOMP over WebSocket: the answers
 * must agree.
 */
describe('authentication and ACL across protocols', () => {
  let t: TestBroker;

  beforeAll(async () => {
    t = await startBrokerWithUsers(
      { alice: { password: 'wonderland', groups: ['ops'] }, bob: { password: 'builder' } },
      {
        allowAnonymous: false,
        acl: [
          { allow: { publish: ['plant/%u/#'], subscribe: ['plant/#'], produce: ['orders'], consume: ['orders'] }, groups: ['ops'] },
          { allow: { publish: ['devices/%c/status'], subscribe: ['devices/%c/#'] } },
        ],
      },
    );
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

  describe('STOMP over WebSocket gets the same answers', () => {
    const url = (): string => `ws://127.0.0.1:${t.broker.ports.http}/stomp`;
    const peers: WsStompPeer[] = [];
    const open = (headers: Record<string, string>): WsStompPeer => {
      const peer = wsStomp(url(), headers);
      peers.push(peer);
      return peer;
    };
    afterAll(async () => {
      await Promise.all(peers.splice(0).map((peer) => peer.client.deactivate()));
    });

    /** Expects an ERROR whose message names `destination`, then the broker closing the WebSocket. */
    const refusedFor = async (peer: WsStompPeer, destination: string): Promise<void> => {
      expect((await within(peer.error, 'ERROR')).headers['message']).toContain(destination);
      await within(peer.closed, 'close after ERROR');
      expect(peer.client.connected).toBe(false);
    };

    it.each([
      ['a wrong passcode', { login: 'alice', passcode: 'wrong' }],
      ['an unknown user', { login: 'nobody', passcode: 'x' }],
      ['no credentials (anonymous clients not allowed)', {}],
    ])('refuses %s with ERROR, then closes', async (_case, headers) => {
      const peer = open(headers);
      const error = await within(peer.error, 'ERROR');
      expect(error.command).toBe('ERROR');
      expect(error.headers['message']).toBe('access refused');
      expect(error.body).toMatch(/login and passcode were not accepted/);
      await within(peer.closed, 'close after ERROR');
      expect(await Promise.race([peer.connected.then(() => 'connected'), Promise.resolve('never')])).toBe('never');
    });

    it('carries what the ACL allows: a queue both ways, a %u topic and a %c topic', async () => {
      const alice = open({ login: 'alice', passcode: 'wonderland', 'client-id': 'alice-ws' });
      await within(alice.connected, 'alice CONNECTED');
      await sendWithReceipt(alice.client, '/queue/orders', 'order-1', 'q1');
      const orders = await subscribeWithReceipt(alice.client, '/queue/orders', 's1');
      const plant = await subscribeWithReceipt(alice.client, '/topic/plant/#', 's2');
      const own = await subscribeWithReceipt(alice.client, '/topic/devices/alice-ws/#', 's3');
      await sendWithReceipt(alice.client, '/topic/plant/alice/temp', '21', 'p1'); // plant/%u/#
      await sendWithReceipt(alice.client, '/topic/devices/alice-ws/status', 'up', 'p2'); // devices/%c/status
      await until(() => orders.length === 1 && plant.length === 1 && own.length === 1, 'three deliveries');
      expect(orders[0]?.body).toBe('order-1');
      expect(plant[0]?.headers['destination']).toBe('/topic/plant/alice/temp');
      expect(own[0]?.body).toBe('up');
    });

    it.each([
      ['SEND to a topic outside plant/%u/#', 'alice', '/topic/plant/bob/temp', 'send'],
      ['SEND to another client id', 'bob', '/topic/devices/other/status', 'send'],
      ['SUBSCRIBE to a topic not covered', 'bob', '/topic/plant/#', 'subscribe'],
      ['SUBSCRIBE to another client id', 'bob', '/topic/devices/other/#', 'subscribe'],
      ['SEND to a queue it may not produce to', 'bob', '/queue/orders', 'send'],
      ['SUBSCRIBE to a queue it may not consume', 'bob', '/queue/orders', 'subscribe'],
    ] as const)('answers a forbidden %s with ERROR naming the destination, then closes', async (_case, user, destination, frame) => {
      const passcode = user === 'alice' ? 'wonderland' : 'builder';
      const peer = open({ login: user, passcode, 'client-id': `${user}-ws` });
      await within(peer.connected, `${user} CONNECTED`);
      // Allowed traffic first: the same connection was working until the forbidden frame.
      const own = await subscribeWithReceipt(peer.client, `/topic/devices/${user}-ws/#`, 'ok');
      await sendWithReceipt(peer.client, `/topic/devices/${user}-ws/status`, 'up', 'ok-send');
      await until(() => own.length === 1, 'own status');
      if (frame === 'send') peer.client.publish({ destination, body: 'x' });
      else peer.client.subscribe(destination, () => undefined);
      await refusedFor(peer, destination);
    });
  });
});
