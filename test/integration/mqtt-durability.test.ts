import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { CliProcess, freePort, tempDir } from '../helpers/cli-process.js';
import { connect, end, messagesWithin, nextMessages } from '../helpers/mqtt.js';

describe('durability of persistent sessions', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('delivers what was queued for an offline session after a clean restart on the same data dir', async () => {
    let t: TestBroker = await startBroker();
    const dataDir = t.dataDir;
    cleanup.push(() => t.close());
    const sub = await connect(t.mqttPort, { protocolVersion: 4, clientId: 'durable-sub', clean: false });
    await sub.subscribeAsync('plant/#', { qos: 1 });
    await sub.endAsync();
    const pub = await connect(t.mqttPort, { protocolVersion: 4 });
    for (let i = 0; i < 20; i++) await pub.publishAsync(`plant/line/${i}`, Buffer.from([i, 0, 255]), { qos: 1 });
    await pub.publishAsync('plant/state', 'running', { qos: 1, retain: true });
    await end(pub);
    await t.stop();

    t = await startBroker({ dataDir });
    const back = await connect(t.mqttPort, { protocolVersion: 4, clientId: 'durable-sub', clean: false });
    const got = await nextMessages(back, 21);
    expect(got.slice(0, 20).map((m) => [...m.payload])).toEqual(Array.from({ length: 20 }, (_, i) => [i, 0, 255]));
    expect(got[20]?.topic).toBe('plant/state');
    await end(back);

    const late = await connect(t.mqttPort, { protocolVersion: 5 });
    const retained = nextMessages(late, 1);
    await late.subscribeAsync('plant/state', { qos: 1 });
    expect((await retained)[0]?.payload.toString()).toBe('running');
    await end(late);
  });

  it('drains a long offline queue in order, within a small Receive Maximum', async () => {
    const t = await startBroker();
    cleanup.push(() => t.close());
    const options = { protocolVersion: 5 as const, clientId: 'backlog', clean: false, properties: { sessionExpiryInterval: 300, receiveMaximum: 5 } };
    const sub = await connect(t.mqttPort, options);
    await sub.subscribeAsync('backlog/#', { qos: 1 });
    await sub.endAsync();
    const pub = await connect(t.mqttPort, { protocolVersion: 4 });
    await Promise.all(Array.from({ length: 600 }, (_, i) => pub.publishAsync('backlog/x', String(i), { qos: 1 })));
    await end(pub);
    const back = await connect(t.mqttPort, options);
    const got = await nextMessages(back, 600, 15_000);
    expect(got.map((m) => Number(m.payload.toString()))).toEqual(Array.from({ length: 600 }, (_, i) => i));
    await end(back);
  });

  it('drops the oldest offline messages past maxQueuedMessages', async () => {
    const t = await startBroker({ mqtt: { maxQueuedMessages: 5 } });
    cleanup.push(() => t.close());
    const sub = await connect(t.mqttPort, { protocolVersion: 5, clientId: 'capped', clean: false, properties: { sessionExpiryInterval: 300 } });
    await sub.subscribeAsync('cap/#', { qos: 1 });
    await sub.endAsync();
    const pub = await connect(t.mqttPort, { protocolVersion: 5 });
    for (let i = 0; i < 12; i++) await pub.publishAsync('cap/x', String(i), { qos: 1 });
    await end(pub);
    const back = await connect(t.mqttPort, { protocolVersion: 5, clientId: 'capped', clean: false, properties: { sessionExpiryInterval: 300 } });
    const got = await messagesWithin(back, 500);
    expect(got.map((m) => m.payload.toString())).toEqual(['7', '8', '9', '10', '11']);
    expect(t.broker.store.stats.droppedOverflow).toBe(7);
    await end(back);
  });

  it('keeps every acknowledged QoS 1 message across a SIGKILL right after the last PUBACK', async () => {
    const dir = tempDir('roost-kill-');
    cleanup.push(() => dir.remove());
    const port = await freePort();
    const args = ['start', '--mqtt-port', String(port), '--data-dir', `${dir.path}/data`, '--log-level', 'info'];
    const ready = (line: Record<string, unknown>): boolean => line['msg'] === 'ready';

    const first = new CliProcess(args, { cwd: dir.path });
    cleanup.push(() => first.dispose());
    await first.waitForLog(ready);
    const sub = await connect(port, { protocolVersion: 5, clientId: 'survivor', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await sub.subscribeAsync('telemetry/#', { qos: 1 });
    await sub.endAsync();

    const pub = await connect(port, { protocolVersion: 4, clientId: 'sensor' });
    const total = 300;
    // Many in flight at once, so the kill lands while batches are being grouped.
    await Promise.all(Array.from({ length: total }, (_, i) => pub.publishAsync(`telemetry/${i % 7}`, String(i), { qos: 1 })));
    first.child.kill('SIGKILL');
    await first.waitForExit();
    await end(pub);

    const second = new CliProcess(args, { cwd: dir.path });
    cleanup.push(() => second.dispose());
    await second.waitForLog(ready);
    const back = await connect(port, { protocolVersion: 5, clientId: 'survivor', clean: false, properties: { sessionExpiryInterval: 3600 } });
    const got = await nextMessages(back, total, 15_000);
    const seen = new Set(got.map((m) => Number(m.payload.toString())));
    expect(seen.size).toBe(total);
    await end(back);
    second.child.kill('SIGTERM');
    expect((await second.waitForExit()).code).toBe(0);
  });
});
