import type { Duplex } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StompDecoder, encodeFrame, type StompFrame } from '../../protocols/stomp/codec.js';
import { hasCode } from '../../src/core/errors.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end, nextMessages } from '../helpers/mqtt.js';
import { standardPki, tlsOpen, type CertFiles, type TestPki } from '../helpers/tls.js';
import { until, WsPeer } from '../helpers/ws.js';
import { get as httpsGet } from 'node:https';

let pki: TestPki;
let ca: CertFiles;
let server: CertFiles;
let caPem: Buffer;
beforeAll(() => {
  ({ pki, ca, server } = standardPki());
  caPem = pki.read(ca.cert);
});
afterAll(() => pki.remove());

const brokers: TestBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((tb) => tb.close()));
});

async function tlsBroker(): Promise<TestBroker> {
  const tb = await startBroker({ tls: { cert: server.cert, key: server.key } });
  brokers.push(tb);
  return tb;
}

/** Frames a STOMP peer receives on any byte stream. */
function stompPeer(stream: Duplex): { send(command: string, headers: Record<string, string>, body?: string): void; next(count: number): Promise<StompFrame[]> } {
  const decoder = new StompDecoder({});
  const frames: StompFrame[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const event of decoder.push(chunk)) if (event.kind === 'frame') frames.push(event.frame);
  });
  return {
    send: (command, headers, body = '') => stream.write(encodeFrame({ command, headers: Object.entries(headers), body: Buffer.from(body) }, decoder.version)),
    next: async (count) => {
      await until(() => frames.length >= count, `${count} STOMP frames`);
      return frames.slice(0, count);
    },
  };
}

describe('TLS listeners', () => {
  it('do not exist without a certificate', async () => {
    const tb = await startBroker({ tls: { mqttPort: 8883 } });
    brokers.push(tb);
    expect(tb.broker.ports).not.toHaveProperty('mqtts');
    expect(tb.broker.ports).not.toHaveProperty('stomps');
    expect(tb.broker.ports).not.toHaveProperty('https');
    expect(tb.broker.reloadTls()).toBe(false);
  });

  it('can be switched off one by one', async () => {
    const tb = await startBroker({ tls: { cert: server.cert, key: server.key, stompPort: 0, httpsPort: 0 } });
    brokers.push(tb);
    expect(tb.mqttsPort).toBeGreaterThan(0);
    expect(tb.broker.ports.stomps).toBeUndefined();
    expect(tb.broker.ports.https).toBeUndefined();
  });

  it('carry MQTT over TLS (mqtts) to a plain TCP subscriber', async () => {
    const tb = await tlsBroker();
    const secure = await connect(tb.mqttsPort, { protocol: 'mqtts', ca: caPem, rejectUnauthorized: true, clientId: 'mqtts-pub' });
    const plain = await connect(tb.mqttPort, { clientId: 'plain-sub' });
    try {
      await plain.subscribeAsync('secure/+', { qos: 1 });
      const got = nextMessages(plain, 1);
      await secure.publishAsync('secure/line', 'encrypted on the wire', { qos: 1 });
      expect((await got)[0]?.payload.toString()).toBe('encrypted on the wire');
    } finally {
      await end(secure, plain);
    }
  });

  it('carry STOMP over TLS', async () => {
    const tb = await tlsBroker();
    const socket = await tlsOpen(tb.stompsPort, { ca: caPem });
    try {
      expect(socket.authorized).toBe(true);
      const peer = stompPeer(socket);
      peer.send('CONNECT', { 'accept-version': '1.2', host: 'roost' });
      peer.send('SUBSCRIBE', { id: '1', destination: '/topic/tls/stomp' });
      peer.send('SEND', { destination: '/topic/tls/stomp' }, 'over tls');
      const frames = await peer.next(2);
      expect(frames.map((f) => f.command)).toEqual(['CONNECTED', 'MESSAGE']);
      expect(frames[1]?.body.toString()).toBe('over tls');
    } finally {
      socket.destroy();
    }
  });

  it('serve wss:// for both protocols, and /healthz over https', async () => {
    const tb = await tlsBroker();
    const mqttWss = await connect(0, { protocol: 'wss', host: '127.0.0.1', port: tb.httpsPort, path: '/mqtt', ca: caPem, rejectUnauthorized: true, clientId: 'wss-mqtt' });
    const stompWss = await WsPeer.open(`wss://127.0.0.1:${tb.httpsPort}/stomp`, ['v12.stomp'], { ca: caPem });
    try {
      await mqttWss.subscribeAsync('wss/#', { qos: 0 });
      const got = nextMessages(mqttWss, 1);
      stompWss.ws.send('CONNECT\naccept-version:1.2\nhost:roost\n\n\0');
      await stompWss.waitFor(1);
      stompWss.ws.send('SEND\ndestination:/topic/wss/x\n\nfrom stomp over wss\0');
      expect((await got)[0]?.payload.toString()).toBe('from stomp over wss');

      const health = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        httpsGet({ host: '127.0.0.1', port: tb.httpsPort, path: '/healthz', ca: caPem, agent: false }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
        }).once('error', reject);
      });
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', connections: { mqtt: 1, stomp: 1 } });
    } finally {
      await end(mqttWss);
      await stompWss.close();
    }
  });

  it('refuse to start on a missing key file, naming it', async () => {
    const missing = `${pki.dir}/no-such.key`;
    const failed = startBroker({ tls: { cert: server.cert, key: missing } });
    await expect(failed).rejects.toSatisfy((err: unknown) => hasCode(err, 'TLS_FILE_UNREADABLE') && (err as Error).message.includes(missing));
  });

  it('refuse to start on a key that does not match the certificate', async () => {
    const other = pki.issue('mismatch', 'other', ca, 'server');
    await expect(startBroker({ tls: { cert: server.cert, key: other.key } })).rejects.toSatisfy((err: unknown) => hasCode(err, 'TLS_INVALID'));
  });
});
