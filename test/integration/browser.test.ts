/**
 * MQTT.js and @stomp/stompjs, as browsers load them, in one page of a real
 * headless Chromium, talking to the broker over WebSocket. `.ci/run`
 * installs Debian's chromium; locally: `apt-get install chromium`.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';

const CHROMIUM = '/usr/bin/chromium';
// The closed network refuses Chromium's own background connections; these keep it from trying.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

const moduleFile = (path: string): string => fileURLToPath(new URL(`../../node_modules/${path}`, import.meta.url));
const BUNDLES: Record<string, string> = {
  '/mqtt.min.js': moduleFile('mqtt/dist/mqtt.min.js'),
  '/stomp.umd.min.js': moduleFile('@stomp/stompjs/bundles/stomp.umd.min.js'),
};

/** What the page does: MQTT.js publishes to a STOMP subscriber, @stomp/stompjs sends to an MQTT subscriber. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>roost browser test</title>
<script src="/mqtt.min.js"></script>
<script src="/stomp.umd.min.js"></script>
</head><body>
<script>
const port = new URLSearchParams(location.search).get('port');
const results = (window.results = { mqttGot: [], stompGot: [], errors: [], stompProtocol: null });
const fail = (what) => (err) => results.errors.push(what + ': ' + String(err && err.message ? err.message : err));

const stomp = new StompJs.Client({
  brokerURL: 'ws://127.0.0.1:' + port + '/stomp',
  reconnectDelay: 0,
  heartbeatIncoming: 0,
  heartbeatOutgoing: 0,
});
stomp.onStompError = (frame) => results.errors.push('stomp: ' + frame.headers.message);
stomp.onWebSocketError = fail('stomp websocket');

const mq = mqtt.connect('ws://127.0.0.1:' + port + '/mqtt', { clientId: 'browser-mqtt', protocolVersion: 5, reconnectPeriod: 0 });
mq.on('error', fail('mqtt'));
mq.on('message', (topic, payload) => results.mqttGot.push({ topic, payload: payload.toString() }));

let ready = 0;
const bothReady = () => {
  if (++ready < 2) return;
  mq.publish('browser/from-mqtt', 'hello from MQTT.js', { qos: 1 });
  stomp.publish({ destination: '/topic/browser/from-stomp', body: 'hello from stompjs', headers: { 'content-type': 'text/plain' } });
};

stomp.onConnect = () => {
  results.stompProtocol = stomp.webSocket.protocol;
  stomp.watchForReceipt('subscribed', bothReady);
  stomp.subscribe('/topic/browser/from-mqtt', (message) => results.stompGot.push({ destination: message.headers.destination, body: message.body }), { receipt: 'subscribed' });
};
mq.on('connect', () => {
  mq.subscribe('browser/from-stomp', { qos: 1 }, (err) => (err ? fail('mqtt subscribe')(err) : bothReady()));
  stomp.activate();
});
</script>
</body></html>`;

const runHere = existsSync(CHROMIUM) || process.env['CI'] === 'true';

describe.skipIf(!runHere)('in a real browser (headless Chromium)', () => {
  let tb: TestBroker;
  let pages: Server;
  let pagesPort: number;
  let userDataDir: string;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    tb = await startBroker();
    pages = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const bundle = BUNDLES[path];
      if (bundle !== undefined) {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        res.end(readFileSync(bundle));
      } else if (path === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    pagesPort = (pages.address() as AddressInfo).port;
    userDataDir = mkdtempSync(join(tmpdir(), 'roost-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await new Promise((resolve) => pages?.close(resolve));
    await tb?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  }, 30_000);

  it('MQTT.js publishes to @stomp/stompjs and back, in the same page', async () => {
    const page = await (context as BrowserContext).newPage();
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
    await page.goto(`http://127.0.0.1:${pagesPort}/?port=${tb.httpPort}`, { timeout: 15_000 });
    interface PageResults {
      mqttGot: { topic: string; payload: string }[];
      stompGot: { destination: string; body: string }[];
      errors: string[];
      stompProtocol: string | null;
    }
    try {
      await page.waitForFunction(
        () => {
          const r = (globalThis as unknown as { results?: PageResults }).results;
          return r !== undefined && (r.errors.length > 0 || (r.mqttGot.length > 0 && r.stompGot.length > 0));
        },
        null,
        { timeout: 15_000 },
      );
    } catch (err) {
      throw new Error(`the page did not finish: ${JSON.stringify(consoleErrors)}`, { cause: err });
    }
    const results = await page.evaluate(() => (globalThis as unknown as { results: PageResults }).results);
    expect(results.errors).toEqual([]);
    expect(results.stompGot).toEqual([{ destination: '/topic/browser/from-mqtt', body: 'hello from MQTT.js' }]);
    expect(results.mqttGot).toEqual([{ topic: 'browser/from-stomp', payload: 'hello from stompjs' }]);
    expect(results.stompProtocol).toMatch(/^v1[0-2]\.stomp$/);
    await page.close();
  }, 60_000);
});
