import { afterEach, describe, expect, it } from 'vitest';
import { header } from '../../protocols/stomp/codec.js';
import type { StompFrame } from '../../protocols/stomp/codec.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { CliProcess, freePort, tempDir } from '../helpers/cli-process.js';
import { connect, end } from '../helpers/mqtt.js';
import { RawStomp, stompPort } from '../helpers/stomp.js';

describe('STOMP queues', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });
  const broker = async (overrides: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> => {
    const t = await startBroker(overrides);
    cleanup.push(() => t.close());
    return t;
  };
  const client = async (t: TestBroker): Promise<RawStomp> => {
    const r = await RawStomp.connected(stompPort(t));
    cleanup.push(() => r.close());
    return r;
  };

  it('shares a queue between competing consumers, each message to exactly one', async () => {
    const t = await broker();
    const a = await client(t);
    const b = await client(t);
    for (const r of [a, b]) {
      r.send('SUBSCRIBE', { id: 'w', destination: '/queue/jobs', ack: 'auto', receipt: 'sub' });
      await r.next('RECEIPT');
    }
    const producer = await client(t);
    for (let i = 0; i < 20; i++) producer.send('SEND', { destination: '/queue/jobs', persistent: 'true' }, String(i));
    producer.send('DISCONNECT', { receipt: 'bye' });
    await producer.next('RECEIPT');
    const [gotA, gotB] = await Promise.all([a.collect('MESSAGE', 800, 800), b.collect('MESSAGE', 800, 800)]);
    expect(gotA.length).toBeGreaterThan(0);
    expect(gotB.length).toBeGreaterThan(0);
    const all = [...gotA, ...gotB].map((m) => Number(m.body.toString())).sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('dead-letters a message NACKed maxDeliveries times to DLQ.<name>', async () => {
    const t = await broker({ queues: [{ name: 'orders', bind: [], maxDeliveries: 2 }] });
    const r = await client(t);
    r.send('SEND', { destination: '/queue/orders', receipt: 'in' }, 'poison');
    await r.next('RECEIPT');
    r.send('SUBSCRIBE', { id: 's', destination: '/queue/orders', ack: 'client-individual' });
    for (let attempt = 1; attempt <= 2; attempt++) {
      const m = await r.next('MESSAGE');
      expect(header(m, 'redelivered') === 'true').toBe(attempt > 1);
      r.send('NACK', { id: header(m, 'ack') ?? '' });
    }
    expect(await r.collect('MESSAGE', 300, 300)).toEqual([]);
    r.send('SUBSCRIBE', { id: 'd', destination: '/queue/DLQ.orders', ack: 'client-individual' });
    const dead = await r.next('MESSAGE');
    expect(dead.body.toString()).toBe('poison');
    expect(header(dead, 'subscription')).toBe('d');
  });

  it('lets a STOMP app drain, at its own pace, the MQTT telemetry a config binding collects', async () => {
    const t = await broker({ queues: [{ name: 'telemetry', bind: ['sensors/#'] }] });
    const sensor = await connect(t.mqttPort, { protocolVersion: 5, clientId: 'sensor-1' });
    cleanup.push(() => end(sensor));
    const readings = Array.from({ length: 10 }, (_, i) => Buffer.from([i, 0, 0xff, 0x80]));
    for (const [i, reading] of readings.entries()) {
      await sensor.publishAsync(`sensors/boiler/${i % 2 ? 'temp' : 'pressure'}`, reading, { qos: 1, properties: { userProperties: { unit: 'raw' } } });
    }
    await sensor.publishAsync('other/topic', 'not for the queue', { qos: 1 });

    const app = await client(t);
    app.send('SUBSCRIBE', { id: 'tel', destination: '/queue/telemetry', ack: 'client-individual', 'prefetch-count': '3' });
    const got: StompFrame[] = [];
    for (let i = 0; i < 10; i++) {
      const m = await app.next('MESSAGE');
      got.push(m);
      app.send('ACK', { id: header(m, 'ack') ?? '' });
    }
    expect(got.map((m) => [...m.body])).toEqual(readings.map((b) => [...b]));
    expect(header(got[0] as StompFrame, 'unit')).toBe('raw');
    expect(await app.collect('MESSAGE', 300, 300)).toEqual([]);
  });

  it('keeps a queued message whose RECEIPT was sent across a SIGKILL of the broker', async () => {
    const dir = tempDir('roost-stomp-kill-');
    cleanup.push(() => dir.remove());
    const [mqttPort, port] = [await freePort(), await freePort()];
    const args = ['start', '--mqtt-port', String(mqttPort), '--stomp-port', String(port), '--http-port', '0', '--data-dir', `${dir.path}/data`];
    const first = new CliProcess(args, { cwd: dir.path });
    cleanup.push(() => first.dispose());
    await first.waitUntilReady();
    const producer = await RawStomp.connected(port);
    const total = 200;
    for (let i = 0; i < total; i++) producer.send('SEND', { destination: '/queue/kept', persistent: 'true', receipt: `r${i}` }, `m${i}`);
    for (let i = 0; i < total; i++) await producer.next('RECEIPT');
    first.child.kill('SIGKILL');
    await first.waitForExit();
    producer.socket.destroy();

    const second = new CliProcess(args, { cwd: dir.path });
    cleanup.push(() => second.dispose());
    await second.waitUntilReady();
    const consumer = await RawStomp.connected(port);
    cleanup.push(() => consumer.close());
    consumer.send('SUBSCRIBE', { id: 'k', destination: '/queue/kept', ack: 'auto', 'prefetch-count': '1000' });
    const seen = new Set<string>();
    while (seen.size < total) seen.add((await consumer.next('MESSAGE')).body.toString());
    expect(seen.size).toBe(total);
  });
});
