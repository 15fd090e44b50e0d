import mqttPacket from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end, nextMessages } from '../helpers/mqtt.js';
import { until, WsPeer } from '../helpers/ws.js';

let tb: TestBroker;
beforeEach(async () => {
  tb = await startBroker();
});
afterEach(async () => {
  await tb.close();
});

const wsUrl = (): string => `ws://127.0.0.1:${tb.httpPort}/mqtt`;

describe('MQTT over WebSocket', () => {
  for (const protocolVersion of [4, 5] as const) {
    it(`carries MQTT ${protocolVersion === 4 ? '3.1.1' : '5'} between two MQTT.js clients on ws://`, async () => {
      const sub = await connect(0, { protocolVersion, clientId: `ws-sub-${protocolVersion}`, ...urlOptions() });
      const pub = await connect(0, { protocolVersion, clientId: `ws-pub-${protocolVersion}`, ...urlOptions() });
      try {
        await sub.subscribeAsync('ws/+/temp', { qos: 1 });
        const got = nextMessages(sub, 2);
        await pub.publishAsync('ws/kitchen/temp', '21.5', { qos: 1 });
        await pub.publishAsync('ws/attic/temp', Buffer.from([0, 1, 2, 255]), { qos: 0 });
        const messages = await got;
        expect(messages.map((m) => [m.topic, m.payload.toString('hex')])).toEqual([
          ['ws/kitchen/temp', Buffer.from('21.5').toString('hex')],
          ['ws/attic/temp', '000102ff'],
        ]);
      } finally {
        await end(sub, pub);
      }
    });
  }

  it('bridges WebSocket and TCP clients both ways', async () => {
    const wsClient = await connect(0, { clientId: 'ws-side', ...urlOptions() });
    const tcpClient = await connect(tb.mqttPort, { clientId: 'tcp-side' });
    try {
      await wsClient.subscribeAsync('to-ws', { qos: 1 });
      await tcpClient.subscribeAsync('to-tcp', { qos: 1 });
      const atWs = nextMessages(wsClient, 1);
      const atTcp = nextMessages(tcpClient, 1);
      await tcpClient.publishAsync('to-ws', 'from tcp', { qos: 1 });
      await wsClient.publishAsync('to-tcp', 'from ws', { qos: 1 });
      expect((await atWs)[0]?.payload.toString()).toBe('from tcp');
      expect((await atTcp)[0]?.payload.toString()).toBe('from ws');
    } finally {
      await end(wsClient, tcpClient);
    }
  });

  it('reads packets split across WebSocket messages and several packets in one message', async () => {
    const peer = await WsPeer.open(wsUrl(), ['mqtt']);
    try {
      expect(peer.ws.protocol).toBe('mqtt');
      const connectPacket = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'raw-ws', clean: true, keepalive: 30 });
      const subscribe = mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'raw/t', qos: 0 }] });
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      const packets: mqttPacket.Packet[] = [];
      parser.on('packet', (packet) => packets.push(packet));
      let parsed = 0;
      const received = async (count: number): Promise<void> => {
        await until(() => {
          for (const message of peer.messages.slice(parsed)) {
            // MQTT over WebSocket is binary frames only [MQTT-6.0.0-1].
            expect(message.isBinary).toBe(true);
            parser.parse(message.data);
          }
          parsed = peer.messages.length;
          return packets.length >= count;
        }, `${count} packets`);
      };
      // CONNECT and SUBSCRIBE in one message.
      peer.ws.send(Buffer.concat([connectPacket, subscribe]));
      await received(2);
      const publish = mqttPacket.generate({ cmd: 'publish', topic: 'raw/t', payload: Buffer.from('split in three'), qos: 0, retain: false, dup: false });
      // One PUBLISH in three messages, cut inside the header and inside the payload.
      peer.ws.send(publish.subarray(0, 1));
      peer.ws.send(publish.subarray(1, 9));
      peer.ws.send(publish.subarray(9));
      await received(3);
      expect(packets.map((p) => p.cmd)).toEqual(['connack', 'suback', 'publish']);
      expect((packets[2] as mqttPacket.IPublishPacket).payload.toString()).toBe('split in three');
    } finally {
      await peer.close();
    }
  });

  it('answers with the subprotocol the client offered (mqttv3.1 for MQTT 3.1)', async () => {
    const v31 = await WsPeer.open(wsUrl(), ['mqttv3.1']);
    const preferred = await WsPeer.open(wsUrl(), ['other', 'mqtt']);
    const none = await WsPeer.open(wsUrl());
    try {
      expect(v31.ws.protocol).toBe('mqttv3.1');
      expect(preferred.ws.protocol).toBe('mqtt');
      expect(none.ws.protocol).toBe('');
    } finally {
      await Promise.all([v31.close(), preferred.close(), none.close()]);
    }
  });

  it('listens on the configured paths only', async () => {
    const custom = await startBroker({ mqtt: { port: 0 }, http: { mqttPath: '/ws/mqtt' } });
    try {
      const client = await connect(0, { clientId: 'custom-path', protocol: 'ws', host: '127.0.0.1', port: custom.httpPort, path: '/ws/mqtt' });
      await end(client);
      await expect(WsPeer.open(`ws://127.0.0.1:${custom.httpPort}/mqtt`, ['mqtt'])).rejects.toThrow('HTTP 404');
    } finally {
      await custom.close();
    }
  });
});

/** MQTT.js options for the test broker's ws:// endpoint. */
function urlOptions() {
  return { protocol: 'ws' as const, host: '127.0.0.1', port: tb.httpPort, path: '/mqtt' };
}
