import { Aedes } from 'aedes';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MqttListener } from '../../protocols/mqtt/listener.js';
import { clientCertificateCn, TlsContext } from '../../protocols/shared/tls.js';
import { resolveStompListenerOptions, StompListener } from '../../protocols/stomp/listener.js';
import type { StompPeer } from '../../protocols/stomp/session.js';
import { HttpListener } from '../../protocols/websocket/listener.js';
import type { QueueRegistry } from '../../src/core/queue.js';
import { Router } from '../../src/core/router.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end } from '../helpers/mqtt.js';
import { standardPki, tlsOpen, type CertFiles, type TestPki } from '../helpers/tls.js';
import { until, WsPeer } from '../helpers/ws.js';

let pki: TestPki;
let ca: CertFiles;
let server: CertFiles;
let client: CertFiles;
let rogue: CertFiles;
let caPem: Buffer;
beforeAll(() => {
  ({ pki, ca, server, client, rogue } = standardPki());
  caPem = pki.read(ca.cert);
});
afterAll(() => pki.remove());

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const log = pino({ level: 'silent' });
const credentials = (files: CertFiles) => ({ cert: pki.read(files.cert), key: pki.read(files.key) });

describe('mutual TLS in the broker', () => {
  let tb: TestBroker;
  beforeAll(async () => {
    tb = await startBroker({ tls: { cert: server.cert, key: server.key, ca: ca.cert, requestClientCert: true } });
  });
  afterAll(async () => {
    await tb.close();
  });

  it('lets a client with a certificate signed by the CA in, on mqtts, STOMP over TLS and wss', async () => {
    const mqtts = await connect(tb.mqttsPort, { protocol: 'mqtts', ca: caPem, ...credentials(client), clientId: 'with-cert' });
    await end(mqtts);
    const stomps = await tlsOpen(tb.stompsPort, { ca: caPem, ...credentials(client) });
    expect(stomps.authorized).toBe(true);
    stomps.destroy();
    const wss = await WsPeer.open(`wss://127.0.0.1:${tb.httpsPort}/mqtt`, ['mqtt'], { ca: caPem, ...credentials(client) });
    await wss.close();
  });

  it('refuses, at the handshake, a certificate signed by another CA, and no certificate at all', async () => {
    // TLS 1.2 verifies the client before the handshake completes.
    await expect(tlsOpen(tb.mqttsPort, { ca: caPem, maxVersion: 'TLSv1.2', ...credentials(rogue) })).rejects.toThrow();
    await expect(tlsOpen(tb.stompsPort, { ca: caPem, maxVersion: 'TLSv1.2' })).rejects.toThrow();
    // TLS 1.3 sends the refusal as an alert right after: no CONNACK ever comes.
    await expect(connect(tb.mqttsPort, { protocol: 'mqtts', ca: caPem, ...credentials(rogue), clientId: 'rogue' })).rejects.toThrow();
    await expect(WsPeer.open(`wss://127.0.0.1:${tb.httpsPort}/mqtt`, ['mqtt'], { ca: caPem, ...credentials(rogue) })).rejects.toThrow();
  });
});

describe("the verified certificate's CN reaches the auth hooks", () => {
  let tls: TlsContext;
  beforeAll(() => {
    tls = TlsContext.load({ cert: server.cert, key: server.key, ca: ca.cert, requestClientCert: true, minVersion: 'TLSv1.2' });
  });

  it('as clientCertificateCn(client.conn) in the MQTT authenticate hook, over mqtts and wss', async () => {
    const seen: (string | undefined)[] = [];
    const engine = new Aedes({
      authenticate(mqttClient, _username, _password, done) {
        seen.push(clientCertificateCn(mqttClient.conn));
        done(null, true);
      },
    });
    await engine.listen();
    const mqtts = await MqttListener.listen(engine, '127.0.0.1', 0, tls);
    const https = await HttpListener.listen({
      host: '127.0.0.1',
      port: 0,
      tls,
      mqttPath: '/mqtt',
      stompPath: '/stomp',
      maxPayloadBytes: 65_536,
      drainTimeoutMs: 1_000,
      mqtt: engine,
      counts: () => ({ mqtt: 0, stomp: 0 }),
      startedAtMs: Date.now(),
      log,
    });
    cleanup.push(async () => {
      await https.close();
      await new Promise<void>((resolve) => engine.close(() => resolve()));
      await mqtts.close();
    });
    const overTls = await connect(mqtts.port, { protocol: 'mqtts', ca: caPem, ...credentials(client), clientId: 'cn-tls' });
    const overWss = await connect(0, { protocol: 'wss', host: '127.0.0.1', port: https.port, path: '/mqtt', ca: caPem, ...credentials(client), clientId: 'cn-wss' });
    await end(overTls, overWss);
    expect(seen).toEqual(['device-42', 'device-42']);
  });

  it('as peer.certificateCn in the STOMP authenticate hook, over TLS and wss', async () => {
    const peers: StompPeer[] = [];
    const queues: QueueRegistry = {
      open: () => Promise.reject(new Error('no queues here')),
      bind: () => Promise.resolve(),
      unbind: () => Promise.resolve(),
      delete: () => Promise.resolve(),
    };
    const authenticate = (_login: string | undefined, _passcode: string | undefined, connect: { peer: StompPeer }): boolean => {
      peers.push(connect.peer);
      return true;
    };
    const router = new Router();
    const stomps = await StompListener.listen({ host: '127.0.0.1', port: 0, router, queues, log, tls, authenticate });
    cleanup.push(() => stomps.close());
    const socket = await tlsOpen(stomps.port, { ca: caPem, ...credentials(client) });
    socket.write('CONNECT\naccept-version:1.2\nhost:roost\n\n\0');
    await until(() => peers.length === 1, 'CONNECT over TLS');
    socket.destroy();

    const https = await HttpListener.listen({
      host: '127.0.0.1',
      port: 0,
      tls,
      mqttPath: '/mqtt',
      stompPath: '/stomp',
      maxPayloadBytes: 65_536,
      drainTimeoutMs: 1_000,
      stomp: { router, queues, log, options: resolveStompListenerOptions(), authenticate },
      counts: () => ({ mqtt: 0, stomp: 0 }),
      startedAtMs: Date.now(),
      log,
    });
    cleanup.push(() => https.close());
    const wss = await WsPeer.open(`wss://127.0.0.1:${https.port}/stomp`, ['v12.stomp'], { ca: caPem, ...credentials(client) });
    wss.ws.send('CONNECT\naccept-version:1.2\nhost:roost\n\n\0');
    await wss.waitFor(1);
    await wss.close();
    expect(peers).toEqual([
      { certificateCn: 'device-42', remoteAddress: '127.0.0.1' },
      { certificateCn: 'device-42', remoteAddress: '127.0.0.1' },
    ]);
  });

  it('is undefined without a verified client certificate', () => {
    expect(clientCertificateCn(undefined)).toBeUndefined();
    expect(clientCertificateCn({})).toBeUndefined();
  });
});
