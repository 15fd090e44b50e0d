import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { header } from '../../protocols/stomp/codec.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end, nextMessages } from '../helpers/mqtt.js';
import { RawStomp, stompPort } from '../helpers/stomp.js';

describe('STOMP ⇄ MQTT on one message model', () => {
  let t: TestBroker;
  const mqttClients: MqttClient[] = [];
  const raws: RawStomp[] = [];
  const stomp = async (): Promise<RawStomp> => {
    const r = await RawStomp.connected(stompPort(t));
    raws.push(r);
    return r;
  };
  const mqtt = async (): Promise<MqttClient> => {
    const c = await connect(t.mqttPort, { protocolVersion: 5 });
    mqttClients.push(c);
    return c;
  };

  beforeEach(async () => {
    t = await startBroker();
  });
  afterEach(async () => {
    await end(...mqttClients.splice(0));
    await Promise.all(raws.splice(0).map((r) => r.close()));
    await t.close();
  });

  it('delivers an MQTT 5 publish to a STOMP subscriber with its properties as headers', async () => {
    const sub = await stomp();
    sub.send('SUBSCRIBE', { id: 's', destination: '/topic/devices/+/state', receipt: 'r' });
    await sub.next('RECEIPT');
    const pub = await mqtt();
    await pub.publishAsync('devices/7/state', Buffer.from([1, 0, 2]), {
      qos: 1,
      properties: {
        contentType: 'application/octet-stream',
        correlationData: Buffer.from('c-7'),
        responseTopic: 'devices/7/reply',
        userProperties: { site: 'north' },
        messageExpiryInterval: 60,
      },
    });
    const message = await sub.next('MESSAGE');
    expect(header(message, 'destination')).toBe('/topic/devices/7/state');
    expect(message.body).toEqual(Buffer.from([1, 0, 2]));
    expect(header(message, 'content-type')).toBe('application/octet-stream');
    expect(header(message, 'correlation-id')).toBe('c-7');
    expect(header(message, 'reply-to')).toBe('/topic/devices/7/reply');
    expect(header(message, 'site')).toBe('north');
    expect(header(message, 'persistent')).toBe('true');
    expect(Number(header(message, 'expires'))).toBeGreaterThan(Date.now());
  });

  it('delivers a STOMP SEND to an MQTT 5 subscriber with its headers as properties', async () => {
    const sub = await mqtt();
    await sub.subscribeAsync('cmd/#', { qos: 1 });
    const arriving = nextMessages(sub, 1);
    const pub = await stomp();
    pub.send(
      'SEND',
      {
        destination: '/topic/cmd/lamp',
        persistent: 'true',
        'content-type': 'text/plain',
        'correlation-id': 'k1',
        'reply-to': '/topic/cmd/replies',
        'x-origin': 'legacy',
        receipt: 'sent',
      },
      'on',
    );
    await pub.next('RECEIPT');
    const [packet] = await arriving;
    expect(packet?.topic).toBe('cmd/lamp');
    expect(packet?.payload.toString()).toBe('on');
    expect(packet?.qos).toBe(1);
    expect(packet?.properties?.contentType).toBe('text/plain');
    expect(packet?.properties?.correlationData).toEqual(Buffer.from('k1'));
    expect(packet?.properties?.responseTopic).toBe('cmd/replies');
    expect(packet?.properties?.userProperties).toEqual({ 'x-origin': 'legacy' });
  });
});

describe('STOMP dotted topic compatibility', () => {
  it('maps MQTT a/b/c to /topic/a.b.c and * / > wildcards both ways', async () => {
    const t = await startBroker({ stomp: { dottedTopics: true } });
    const stomp = await RawStomp.connected(stompPort(t));
    const mqttClient = await connect(t.mqttPort, { protocolVersion: 5 });
    try {
      stomp.send('SUBSCRIBE', { id: 'one', destination: '/topic/plant.*.temp' });
      stomp.send('SUBSCRIBE', { id: 'all', destination: '/topic/plant.>', receipt: 'r' });
      await stomp.next('RECEIPT');
      await mqttClient.publishAsync('plant/boiler/temp', '81', { qos: 1 });
      const got = [await stomp.next('MESSAGE'), await stomp.next('MESSAGE')];
      expect(got.map((f) => header(f, 'subscription')).sort()).toEqual(['all', 'one']);
      expect(got.map((f) => header(f, 'destination'))).toEqual(['/topic/plant.boiler.temp', '/topic/plant.boiler.temp']);

      await mqttClient.subscribeAsync('plant/+/pressure', { qos: 1 });
      const arriving = nextMessages(mqttClient, 1);
      stomp.send('SEND', { destination: '/topic/plant.pump.pressure', receipt: 's' }, '2.1');
      await stomp.next('RECEIPT');
      expect((await arriving)[0]?.topic).toBe('plant/pump/pressure');
    } finally {
      await end(mqttClient);
      await stomp.close();
      await t.close();
    }
  });
});
