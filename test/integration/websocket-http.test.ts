import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end } from '../helpers/mqtt.js';
import { RawStomp } from '../helpers/stomp.js';
import { httpGet, rawUpgrade, until, WsPeer } from '../helpers/ws.js';

const brokers: TestBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((tb) => tb.close()));
});

async function broker(overrides: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> {
  const tb = await startBroker(overrides);
  brokers.push(tb);
  return tb;
}

describe('HTTP listener: refusals', () => {
  it('answers an upgrade to an unknown path with 404 and a short text body, then closes', async () => {
    const tb = await broker();
    const answer = await rawUpgrade(tb.httpPort, '/nope?x=1', 'mqtt');
    expect(answer.status).toBe(404);
    expect(answer.head).toMatch(/content-type: text\/plain/i);
    expect(answer.body).toBe('no WebSocket endpoint at /nope\n');
  });

  it('answers 400 when none of the offered subprotocols is the endpoint\'s', async () => {
    const tb = await broker();
    const mqtt = await rawUpgrade(tb.httpPort, '/mqtt', 'v12.stomp, wamp');
    expect(mqtt.status).toBe(400);
    expect(mqtt.body).toBe('/mqtt speaks mqtt, mqttv3.1; none was offered\n');
    const stomp = await rawUpgrade(tb.httpPort, '/stomp', 'mqtt');
    expect(stomp.status).toBe(400);
    expect(stomp.body).toContain('v12.stomp');
  });

  it('accepts an upgrade that offers no subprotocol, and names none in its answer', async () => {
    const tb = await broker();
    const answer = await rawUpgrade(tb.httpPort, '/stomp');
    expect(answer.status).toBe(101);
    expect(answer.head.toLowerCase()).not.toContain('sec-websocket-protocol');
    const chosen = await rawUpgrade(tb.httpPort, '/stomp', 'foo, v11.stomp');
    expect(chosen.head).toMatch(/sec-websocket-protocol: v11\.stomp/i);
  });

  it('answers any other HTTP request with 404', async () => {
    const tb = await broker();
    expect((await httpGet(tb.httpPort, '/')).status).toBe(404);
    expect((await httpGet(tb.httpPort, '/mqtt')).status).toBe(404);
    expect((await httpGet(tb.httpPort, '/healthz', 'POST')).status).toBe(404);
  });

  it('can be switched off', async () => {
    const tb = await broker({ http: { port: 0 } });
    expect(tb.broker.ports.http).toBeUndefined();
    expect(tb.httpPort).toBe(0);
  });
});

describe('HTTP listener: /healthz', () => {
  it('reports status, uptime and the connections of both protocols', async () => {
    const tb = await broker();
    const first = await httpGet(tb.httpPort, '/healthz');
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('application/json');
    expect(JSON.parse(first.body)).toEqual({ status: 'ok', uptimeSeconds: expect.any(Number), connections: { mqtt: 0, stomp: 0 } });

    const tcp = await connect(tb.mqttPort, { clientId: 'health-tcp' });
    const ws = await connect(0, { protocol: 'ws', host: '127.0.0.1', port: tb.httpPort, path: '/mqtt', clientId: 'health-ws' });
    const stomp = await RawStomp.connected(tb.stompPort);
    const stompWs = await WsPeer.open(`ws://127.0.0.1:${tb.httpPort}/stomp`, ['v12.stomp']);
    try {
      const health = async () => JSON.parse((await httpGet(tb.httpPort, '/healthz')).body) as { connections: { mqtt: number; stomp: number } };
      await until(async () => (await health()).connections.mqtt === 2 && (await health()).connections.stomp === 2, 'two of each');
    } finally {
      await end(tcp, ws);
      await stomp.close();
      await stompWs.close();
    }
  });
});

describe('HTTP listener: flow control and close', () => {
  it('closes a WebSocket client that stops reading with 1008, without stalling another subscriber', async () => {
    // Long enough for a healthy reader on a loaded machine, short enough for the test.
    const tb = await broker({ http: { drainTimeoutMs: 2_000 } });
    const url = `ws://127.0.0.1:${tb.httpPort}/mqtt`;
    const healthy = await connect(0, { protocol: 'ws', host: '127.0.0.1', port: tb.httpPort, path: '/mqtt', clientId: 'healthy' });
    const frozen = await WsPeer.open(url, ['mqtt']);
    const publisher = await connect(tb.mqttPort, { clientId: 'flood' });
    try {
      // A raw subscriber: CONNECT, SUBSCRIBE, then it never reads again.
      frozen.ws.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'frozen', clean: true, keepalive: 0 }));
      frozen.ws.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'fire', qos: 0 }] }));
      await healthy.subscribeAsync('fire', { qos: 0 });
      // CONNACK and SUBACK (a packet may come in several messages).
      await until(() => Buffer.concat(frozen.messages.map((m) => m.data)).length >= 9, 'CONNACK and SUBACK');
      frozen.ws.pause();

      const total = 400;
      let received = 0;
      healthy.on('message', () => received++);
      const payload = Buffer.alloc(64 * 1024, 7);
      for (let i = 0; i < total; i++) publisher.publish('fire', payload, { qos: 0 });

      await until(() => received === total, 'the healthy subscriber gets every message', 20_000);
      const health = async () => JSON.parse((await httpGet(tb.httpPort, '/healthz')).body) as { connections: { mqtt: number } };
      // The frozen client's session ends (healthy and publisher stay).
      await until(async () => (await health()).connections.mqtt === 2, 'the frozen client is dropped', 10_000);
      frozen.ws.resume();
      const closed = await frozen.closed;
      expect(closed.code).toBe(1008);
      expect(closed.reason).toBe('slow consumer: did not drain within 2000 ms');
      expect(healthy.connected).toBe(true);
    } finally {
      await end(healthy, publisher);
      await frozen.close();
    }
  });

  it('closes every WebSocket with 1001 when the broker closes', async () => {
    const tb = await broker();
    const mqttPeer = await WsPeer.open(`ws://127.0.0.1:${tb.httpPort}/mqtt`, ['mqtt']);
    const stompPeer = await WsPeer.open(`ws://127.0.0.1:${tb.httpPort}/stomp`, ['v12.stomp']);
    await tb.stop();
    expect((await mqttPeer.closed).code).toBe(1001);
    expect((await stompPeer.closed).code).toBe(1001);
  });
});
