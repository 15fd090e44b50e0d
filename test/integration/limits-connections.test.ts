import type { IConnackPacket } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { header } from '../../protocols/stomp/codec.js';
import { configDefaults } from '../../src/config/schema.js';
import type { LimitsConfig } from '../../src/config/types.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { RawStomp } from '../helpers/stomp.js';
import { rawUpgrade, until } from '../helpers/ws.js';

let tb: TestBroker | undefined;
const open: Array<{ destroy(): void } | { socket: { destroy(): void } }> = [];

afterEach(async () => {
  for (const peer of open.splice(0)) ('socket' in peer ? peer.socket : peer).destroy();
  await tb?.close();
  tb = undefined;
});

function withLimits(limits: Partial<LimitsConfig>): Promise<TestBroker> {
  return startBroker({ limits: { ...configDefaults().limits, ...limits } });
}

function track<T extends { destroy(): void } | { socket: { destroy(): void } }>(peer: T): T {
  open.push(peer);
  return peer;
}

/** Sends CONNECT and returns the CONNACK the broker answered with. */
async function connack(port: number, version: 4 | 5): Promise<{ raw: RawMqtt; connack: IConnackPacket }> {
  const raw = track(await RawMqtt.open(port, version));
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: true, clientId: `c${Math.random()}`, keepalive: 0 });
  return { raw, connack: (await raw.next('connack')) as IConnackPacket };
}

describe('limits.maxConnections', () => {
  it('MQTT 5: a connection past the limit gets CONNACK 0x97 Quota exceeded, then the close', async () => {
    tb = await withLimits({ maxConnections: 1 });
    track(await RawMqtt.connected(tb.mqttPort, 5));
    const { raw, connack: answer } = await connack(tb.mqttPort, 5);
    expect(answer.reasonCode).toBe(0x97);
    await raw.closed();
  });

  it('MQTT 3.1.1: a connection past the limit gets return code 3 Server unavailable, then the close', async () => {
    tb = await withLimits({ maxConnections: 1 });
    track(await RawMqtt.connected(tb.mqttPort, 4));
    const { raw, connack: answer } = await connack(tb.mqttPort, 4);
    expect(answer.returnCode).toBe(3);
    await raw.closed();
  });

  it('counts every protocol together: MQTT holds the slot, STOMP gets ERROR then the close, WebSocket 503', async () => {
    tb = await withLimits({ maxConnections: 1 });
    const mqtt = track(await RawMqtt.connected(tb.mqttPort, 5));
    const stomp = track(await RawStomp.open(tb.stompPort));
    const error = await stomp.next('ERROR');
    expect(header(error, 'message')).toMatch(/connection refused/);
    await stomp.closed();
    const upgrade = await rawUpgrade(tb.httpPort, '/stomp', 'v12.stomp');
    expect(upgrade.status).toBe(503);
    expect(upgrade.head).toMatch(/^Retry-After: \d+$/im);
    // The slot comes back when the holder goes.
    mqtt.destroy();
    await until(async () => {
      const probe = await RawStomp.open(tb!.stompPort);
      probe.send('CONNECT', { 'accept-version': '1.2', host: 'roost' });
      const frame = await probe.next().catch(() => undefined);
      probe.socket.destroy();
      return frame?.command === 'CONNECTED';
    }, 'a STOMP connection once the MQTT one closed');
  });
});

describe('limits.maxConnectionsPerIp', () => {
  it('refuses the address past its share, STOMP with ERROR and MQTT 5 with 0x97', async () => {
    tb = await withLimits({ maxConnectionsPerIp: 1 });
    track(await RawStomp.connected(tb.stompPort));
    const stomp = track(await RawStomp.open(tb.stompPort));
    expect((await stomp.next()).command).toBe('ERROR');
    await stomp.closed();
    const { raw, connack: answer } = await connack(tb.mqttPort, 5);
    expect(answer.reasonCode).toBe(0x97);
    await raw.closed();
  });
});

describe('limits.connectionsPerIpPerSecond', () => {
  it('MQTT 5: a connection over the rate gets CONNACK 0x9F Connection rate exceeded', async () => {
    tb = await withLimits({ connectionsPerIpPerSecond: 2 });
    track(await RawMqtt.connected(tb.mqttPort, 5));
    track(await RawMqtt.connected(tb.mqttPort, 5));
    const { raw, connack: answer } = await connack(tb.mqttPort, 5);
    expect(answer.reasonCode).toBe(0x9f);
    await raw.closed();
  });

  it('WebSocket: an upgrade over the rate is refused with 503 and Retry-After', async () => {
    tb = await withLimits({ connectionsPerIpPerSecond: 1 });
    const first = await rawUpgrade(tb.httpPort, '/mqtt', 'mqtt');
    expect(first.status).toBe(101);
    const second = await rawUpgrade(tb.httpPort, '/mqtt', 'mqtt');
    expect(second.status).toBe(503);
    expect(second.head).toMatch(/^Retry-After: 1$/im);
  });
});
