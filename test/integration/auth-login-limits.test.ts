import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as StompClient } from '@stomp/stompjs';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import type { IConnackPacket } from 'mqtt-packet';
import { header } from '../../protocols/stomp/codec.js';
import { startBrokerWithUsers, type TestBroker } from '../helpers/broker.js';
import { connect, end, nextMessages } from '../helpers/mqtt.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { RawStomp, stompPort } from '../helpers/stomp.js';

/** Four times the default scrypt cost: a check that surely outlasts the test's next few CONNECTs. */
const SLOW = { cost: 65_536, blockSize: 8, parallelization: 1 };

/**
 * Password logins under attack, with real clients. Every test client
 * connects from 127.0.0.1, so the back-off is shown per (address, user
 * name): the user under attack is refused, a user from the same address
 * still gets in.
 */
describe('login limits', () => {
  let t: TestBroker;

  beforeAll(async () => {
    // Real scrypt cost: a check takes tens of milliseconds in libuv's thread pool, as in production.
    t = await startBrokerWithUsers(
      {
        alice: { password: 'wonderland' },
        bob: { password: 'builder' },
        carol: { password: 'singer' },
        slow: { password: 'slowpoke', scrypt: SLOW },
      },
      {
        allowAnonymous: false,
        maxConcurrentPasswordChecks: 1,
        maxQueuedPasswordChecks: 2,
        maxLoginFailures: 3,
        loginFailureWindowMs: 60_000,
        loginBackoffMs: 60_000,
      },
    );
  });
  afterAll(async () => {
    await t.close();
  });

  /** Opens a raw MQTT connection and sends CONNECT; the CONNACK is read by the caller. */
  const raw = async (version: 4 | 5, username: string, password: string, clientId: string): Promise<RawMqtt> => {
    const r = await RawMqtt.open(t.mqttPort, version);
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: true, clientId, keepalive: 0, username, password: Buffer.from(password) });
    return r;
  };

  const connackCode = async (r: RawMqtt): Promise<number> => {
    const connack = (await r.next('connack', 15_000)) as IConnackPacket;
    return (r.version === 5 ? connack.reasonCode : connack.returnCode) ?? 0;
  };

  it('refuses a user name that failed repeatedly from one address, without checking its password, on every MQTT transport', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await raw(5, 'bob', `guess-${attempt}`, `bob-${attempt}`);
      expect(await connackCode(r), `attempt ${attempt}`).toBe(0x86);
      await r.closed();
    }
    // Now even the right password is refused: 0x9F Connection rate exceeded (v5), Server unavailable (3.1.1).
    const v5 = await raw(5, 'bob', 'builder', 'bob-v5');
    expect(await connackCode(v5)).toBe(0x9f);
    await v5.closed();
    const v4 = await raw(4, 'bob', 'builder', 'bob-v4');
    expect(await connackCode(v4)).toBe(3);
    await v4.closed();
    const overWs = mqtt.connect(`ws://127.0.0.1:${t.httpPort}/mqtt`, { protocolVersion: 5, username: 'bob', password: 'builder', reconnectPeriod: 0 });
    const err = await new Promise<Error & { code?: number }>((resolve) => overWs.once('error', resolve));
    expect(err.code).toBe(0x9f);
    overWs.end(true);

    // Another user from the same address logs in and works as usual.
    const alice = await connect(t.mqttPort, { protocolVersion: 5, username: 'alice', password: 'wonderland', clientId: 'alice-1' });
    await alice.subscribeAsync('plant/#', { qos: 1 });
    const arriving = nextMessages(alice, 1);
    await alice.publishAsync('plant/line-1', 'running', { qos: 1 });
    expect((await arriving)[0]?.payload.toString()).toBe('running');
    await end(alice);
  });

  it('backs off a STOMP login that failed repeatedly from one address, over TCP and WebSocket alike', async () => {
    const login = async (passcode: string): Promise<string | undefined> => {
      const stomp = await RawStomp.open(stompPort(t));
      stomp.send('CONNECT', { 'accept-version': '1.2', host: 'roost', login: 'carol', passcode });
      const error = await stomp.next('ERROR', 15_000);
      await stomp.closed();
      return error.body.toString();
    };
    for (let attempt = 0; attempt < 3; attempt++) expect(await login(`guess-${attempt}`)).not.toMatch(/too many failed logins/);
    // The right passcode is now refused without a check, and the ERROR says why.
    expect(await login('singer')).toMatch(/too many failed logins/);
    const overWs = new StompClient({
      webSocketFactory: () => new WebSocket(`ws://127.0.0.1:${t.httpPort}/stomp`, ['v12.stomp']),
      connectHeaders: { login: 'carol', passcode: 'singer' },
      reconnectDelay: 0,
    });
    const refused = new Promise<string>((resolve) => {
      overWs.onStompError = (frame) => resolve(frame.body);
    });
    overWs.activate();
    expect(await refused).toMatch(/too many failed logins/);
    await overWs.deactivate();
    // Another login from the same address still gets in.
    const alice = await RawStomp.connected(stompPort(t), { login: 'alice', passcode: 'wonderland' });
    await alice.close();
  });

  it('refuses logins past the password-check queue as server busy, and lets a good client in once it drains', async () => {
    // Wrong passwords for a user with a costly hash: the first check runs for a while, two wait, the rest are refused.
    const flood = await Promise.all(Array.from({ length: 6 }, (_, i) => raw(5, 'slow', `guess-${i}`, `flood-${i}`)));
    const codes = flood.map(connackCode);
    // Once one was refused as busy the queue is full: a 3.1.1 client and a STOMP client arriving now are refused too.
    await Promise.any(codes.map((code) => code.then((c) => (c === 0x89 ? c : Promise.reject(new Error(`code ${c}`))))));
    const v4 = await raw(4, 'alice', 'wonderland', 'alice-v4');
    const stomp = await RawStomp.open(stompPort(t));
    stomp.send('CONNECT', { 'accept-version': '1.2', host: 'roost', login: 'alice', passcode: 'wonderland' });
    expect(await connackCode(v4)).toBe(3);
    const error = await stomp.next('ERROR', 15_000);
    expect(header(error, 'message')).toBe('access refused');
    expect(error.body.toString()).toMatch(/server busy/);
    await stomp.closed();

    expect((await Promise.all(codes)).sort()).toEqual([0x86, 0x86, 0x86, 0x89, 0x89, 0x89]);
    await Promise.all([...flood, v4].map((r) => r.closed()));

    const alice = await connect(t.mqttPort, { protocolVersion: 4, username: 'alice', password: 'wonderland', clientId: 'alice-2' });
    expect(alice.connected).toBe(true);
    await end(alice);
    const stompAlice = await RawStomp.connected(stompPort(t), { login: 'alice', passcode: 'wonderland' });
    await stompAlice.close();
  });
});
