import { Client, type IMessage } from '@stomp/stompjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { StompDecoder, encodeFrame } from '../../protocols/stomp/codec.js';
import type { StompFrame } from '../../protocols/stomp/codec.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end, nextMessages } from '../helpers/mqtt.js';
import { until, WsPeer } from '../helpers/ws.js';

let tb: TestBroker;
const clients: Client[] = [];
beforeEach(async () => {
  tb = await startBroker({ stomp: { heartbeatSendMs: 100, heartbeatReceiveMs: 100 } });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.deactivate()));
  await tb.close();
});

const stompUrl = (): string => `ws://127.0.0.1:${tb.httpPort}/stomp`;

/** A @stomp/stompjs client on the test broker's ws:// endpoint; resolves once CONNECTED. */
async function stompClient(heartbeatMs = 0): Promise<Client> {
  const client = new Client({
    webSocketFactory: () => new WebSocket(stompUrl(), ['v12.stomp', 'v11.stomp']),
    reconnectDelay: 0,
    heartbeatIncoming: heartbeatMs,
    heartbeatOutgoing: heartbeatMs,
    connectHeaders: { host: 'roost' },
  });
  clients.push(client);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no CONNECTED within 5 s')), 5_000);
    client.onConnect = () => {
      clearTimeout(timer);
      resolve();
    };
    client.onStompError = (frame) => reject(new Error(frame.headers['message']));
    client.activate();
  });
  return client;
}

function inbox(client: Client, destination: string): IMessage[] {
  const got: IMessage[] = [];
  client.subscribe(destination, (message) => got.push(message));
  return got;
}

describe('STOMP over WebSocket', () => {
  it('carries SEND to a SUBSCRIBE between two @stomp/stompjs clients', async () => {
    const a = await stompClient();
    const b = await stompClient();
    const got = inbox(b, '/topic/ws/+/status');
    // The SUBSCRIBE is written before the SEND, but on another connection: a receipt orders them.
    await new Promise<void>((resolve) => {
      b.watchForReceipt('sub-1', () => resolve());
      b.publish({ destination: '/topic/ws/ready', headers: { receipt: 'sub-1' } });
    });
    a.publish({ destination: '/topic/ws/door/status', body: 'open', headers: { 'content-type': 'text/plain' } });
    a.publish({ destination: '/topic/ws/gate/status', binaryBody: new Uint8Array([0, 159, 146, 150]) });
    await until(() => got.length === 2, 'two messages');
    expect(got[0]?.body).toBe('open');
    expect(got[0]?.headers['destination']).toBe('/topic/ws/door/status');
    expect([...(got[1]?.binaryBody ?? [])]).toEqual([0, 159, 146, 150]);
  });

  it('keeps a connection with heart-beats both ways alive', async () => {
    // 250 ms beats: short enough that silence would close the connection within the wait,
    // long enough that a busy test machine does not miss one (the tolerance is twice the interval).
    const client = await stompClient(250);
    const got = inbox(client, '/topic/beat');
    // Many times the interval: without beats either side would have closed it.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(client.connected).toBe(true);
    client.publish({ destination: '/topic/beat', body: 'still here' });
    await until(() => got.length === 1, 'a message after the beats');
    expect(tb.broker.ports.http).toBe(tb.httpPort);
  });

  it('reads text and binary WebSocket frames and answers in text when it can', async () => {
    const peer = await WsPeer.open(stompUrl(), ['v10.stomp', 'v12.stomp']);
    try {
      expect(peer.ws.protocol).toBe('v10.stomp');
      const decoder = new StompDecoder({});
      const frames: StompFrame[] = [];
      let read = 0;
      const next = async (count: number): Promise<void> =>
        until(() => {
          for (const { data } of peer.messages.slice(read)) {
            for (const event of decoder.push(data)) if (event.kind === 'frame') frames.push(event.frame);
          }
          read = peer.messages.length;
          return frames.length >= count;
        }, `${count} frames`);
      const frame = (command: string, headers: Record<string, string>, body = ''): Buffer =>
        encodeFrame({ command, headers: Object.entries(headers), body: Buffer.from(body) }, decoder.version);
      // CONNECT as a text message, the rest as binary.
      peer.ws.send(frame('CONNECT', { 'accept-version': '1.2', host: 'roost' }).toString('utf8'));
      await next(1);
      expect(frames[0]?.command).toBe('CONNECTED');
      peer.ws.send(frame('SUBSCRIBE', { id: '1', destination: '/topic/frames' }), { binary: true });
      const send = frame('SEND', { destination: '/topic/frames', receipt: 'r1' }, 'hello');
      // One frame split over two messages.
      peer.ws.send(send.subarray(0, 10), { binary: true });
      peer.ws.send(send.subarray(10), { binary: true });
      await next(3);
      expect(frames.slice(1).map((f) => f.command).sort()).toEqual(['MESSAGE', 'RECEIPT']);
      expect(frames.find((f) => f.command === 'MESSAGE')?.body.toString()).toBe('hello');
      // UTF-8 frames go out as text messages, each frame its own message.
      expect(peer.messages.every((m) => !m.isBinary)).toBe(true);
    } finally {
      await peer.close();
    }
  });

  it('bridges MQTT over WebSocket and STOMP over WebSocket both ways', async () => {
    const stomp = await stompClient();
    const mqttWs = await connect(0, { protocol: 'ws', host: '127.0.0.1', port: tb.httpPort, path: '/mqtt', clientId: 'bridge-mqtt' });
    try {
      const atStomp = inbox(stomp, '/topic/bridge/to-stomp');
      await mqttWs.subscribeAsync('bridge/to-mqtt', { qos: 1 });
      await new Promise<void>((resolve) => {
        stomp.watchForReceipt('ready', () => resolve());
        stomp.publish({ destination: '/topic/bridge/noop', headers: { receipt: 'ready' } });
      });
      const atMqtt = nextMessages(mqttWs, 1);
      await mqttWs.publishAsync('bridge/to-stomp', 'mqtt says hi', { qos: 1 });
      stomp.publish({ destination: '/topic/bridge/to-mqtt', body: 'stomp says hi' });
      await until(() => atStomp.length === 1, 'MQTT → STOMP');
      expect(atStomp[0]?.body).toBe('mqtt says hi');
      expect((await atMqtt)[0]?.payload.toString()).toBe('stomp says hi');
    } finally {
      await end(mqttWs);
    }
  });

  it('ends the session and closes the WebSocket after an ERROR', async () => {
    const peer = await WsPeer.open(stompUrl(), ['v12.stomp']);
    peer.ws.send('SUBSCRIBE\nid:1\ndestination:/topic/x\n\n\0');
    const { code } = await peer.closed;
    expect(code).toBe(1000);
    expect(peer.messages[0]?.data.toString()).toMatch(/^ERROR\n/);
  });
});
