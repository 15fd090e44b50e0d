import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hasCode } from '../../src/core/errors.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { CliProcess, freePort, tempDir } from '../helpers/cli-process.js';
import { connect, end, nextMessages } from '../helpers/mqtt.js';
import { TestPki, tlsOpen, type CertFiles } from '../helpers/tls.js';

let pki: TestPki;
let caPem: Buffer;
let certA: CertFiles;
let certB: CertFiles;
beforeAll(() => {
  pki = new TestPki();
  const ca = pki.ca('reload-ca');
  certA = pki.issue('server-a', 'roost-server-a', ca, 'server');
  certB = pki.issue('server-b', 'roost-server-b', ca, 'server');
  caPem = pki.read(ca.cert);
});
afterAll(() => pki.remove());

/** A fresh pair of files the broker reads, starting as a copy of certificate A. */
function liveFiles(name: string): CertFiles {
  const live = { cert: join(pki.dir, `${name}.crt`), key: join(pki.dir, `${name}.key`) };
  pki.replace(live, certA);
  return live;
}

/** The CN of the certificate the server presents to a new handshake. */
async function presentedCn(port: number): Promise<string> {
  const socket = await tlsOpen(port, { ca: caPem });
  try {
    return String(socket.getPeerCertificate().subject.CN);
  } finally {
    socket.destroy();
  }
}

describe('reloadTls()', () => {
  let tb: TestBroker | undefined;
  afterEach(async () => {
    await tb?.close();
    tb = undefined;
  });

  it('swaps the certificate for new handshakes while an open connection keeps working', async () => {
    const live = liveFiles('live-1');
    tb = await startBroker({ tls: live });
    const ports = [tb.mqttsPort, tb.stompsPort, tb.httpsPort];
    for (const port of ports) expect(await presentedCn(port)).toBe('roost-server-a');
    const existing = await connect(tb.mqttsPort, { protocol: 'mqtts', ca: caPem, clientId: 'before-reload' });
    try {
      await existing.subscribeAsync('reload/t', { qos: 1 });

      pki.replace(live, certB);
      expect(tb.broker.reloadTls()).toBe(true);

      for (const port of ports) expect(await presentedCn(port)).toBe('roost-server-b');
      const got = nextMessages(existing, 1);
      await existing.publishAsync('reload/t', 'still connected', { qos: 1 });
      expect((await got)[0]?.payload.toString()).toBe('still connected');
    } finally {
      await end(existing);
    }
  });

  it('keeps the previous certificate when the new files are not usable', async () => {
    const live = liveFiles('live-2');
    tb = await startBroker({ tls: live });
    writeFileSync(live.key, 'not a key\n');
    let thrown: unknown;
    try {
      tb.broker.reloadTls();
    } catch (err) {
      thrown = err;
    }
    expect(hasCode(thrown, 'TLS_INVALID')).toBe(true);
    expect(await presentedCn(tb.mqttsPort)).toBe('roost-server-a');
  });
});

describe('roost start: SIGHUP', () => {
  it('reloads the certificates without dropping connections', async () => {
    const dir = tempDir('roost-sighup-');
    const live = liveFiles('live-cli');
    const [mqtt, mqtts, stomps, https] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const config = join(dir.path, 'roost.yaml');
    writeFileSync(
      config,
      [
        'dataDir: ./data',
        `mqtt:\n  port: ${mqtt}`,
        'stomp:\n  port: 0',
        'http:\n  port: 0',
        `tls:\n  cert: ${live.cert}\n  key: ${live.key}\n  mqttPort: ${mqtts}\n  stompPort: ${stomps}\n  httpsPort: ${https}`,
        '',
      ].join('\n'),
    );
    const cli = new CliProcess(['start', '--config', config], { cwd: dir.path });
    try {
      await cli.waitUntilReady();
      const endpoints = cli.logLines().filter((line) => line.msg === 'listening').map((line) => line['endpoint']);
      expect(endpoints).toEqual([
        `mqtt://127.0.0.1:${mqtt}`,
        `mqtts://127.0.0.1:${mqtts}`,
        `stomp+ssl://127.0.0.1:${stomps}`,
        `wss://127.0.0.1:${https}/mqtt`,
        `wss://127.0.0.1:${https}/stomp`,
        `https://127.0.0.1:${https}/healthz`,
      ]);
      expect(await presentedCn(mqtts)).toBe('roost-server-a');
      const existing = await connect(mqtts, { protocol: 'mqtts', ca: caPem, clientId: 'across-sighup' });
      try {
        await existing.subscribeAsync('hup/t', { qos: 1 });
        pki.replace(live, certB);
        cli.child.kill('SIGHUP');
        await cli.waitForLog((line) => line.msg === 'tls certificates reloaded');
        expect(await presentedCn(mqtts)).toBe('roost-server-b');
        expect(await presentedCn(https)).toBe('roost-server-b');
        const got = nextMessages(existing, 1);
        await existing.publishAsync('hup/t', 'after SIGHUP', { qos: 1 });
        expect((await got)[0]?.payload.toString()).toBe('after SIGHUP');
      } finally {
        await end(existing);
      }
      cli.child.kill('SIGTERM');
      expect((await cli.waitForExit(5_000)).code).toBe(0);
    } finally {
      await cli.dispose();
      dir.remove();
    }
  });
});
