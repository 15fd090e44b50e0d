import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { CliProcess, freePort, tempDir } from '../helpers/cli-process.js';
import { connect, end, messagesWithin, nextMessages } from '../helpers/mqtt.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';

/** A subscriber that acknowledges only what the test tells it to. */
async function rawSession(port: number, clientId: string): Promise<RawMqtt> {
  return RawMqtt.connected(port, 4, { clientId, clean: false });
}

async function publishes(raw: RawMqtt, count: number): Promise<IPublishPacket[]> {
  const out: IPublishPacket[] = [];
  for (let i = 0; i < count; i++) out.push((await raw.next('publish')) as IPublishPacket);
  return out;
}

/** DISCONNECT, then wait until the broker closed the connection: everything sent before it was handled. */
async function leave(raw: RawMqtt): Promise<void> {
  raw.send({ cmd: 'disconnect' });
  await raw.closed();
}

const summary = (p: IPublishPacket): [string, number, boolean] => [p.payload.toString(), p.qos, p.dup];

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

    const first = new CliProcess(args, { cwd: dir.path });
    cleanup.push(() => first.dispose());
    await first.waitUntilReady();
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
    await second.waitUntilReady();
    const back = await connect(port, { protocolVersion: 5, clientId: 'survivor', clean: false, properties: { sessionExpiryInterval: 3600 } });
    const got = await nextMessages(back, total, 15_000);
    const seen = new Set(got.map((m) => Number(m.payload.toString())));
    expect(seen.size).toBe(total);
    await end(back);
    second.child.kill('SIGTERM');
    expect((await second.waitForExit()).code).toBe(0);
  });

  it('resends unacknowledged QoS 1 messages after a restart with DUP set and their packet ids', async () => {
    let t: TestBroker = await startBroker();
    const dataDir = t.dataDir;
    cleanup.push(() => t.close());
    let sub = await rawSession(t.mqttPort, 'dup-sub');
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'dup/#', qos: 1 }] });
    await sub.next('suback');
    await leave(sub);
    const pub = await connect(t.mqttPort, { protocolVersion: 4 });
    for (let i = 0; i < 4; i++) await pub.publishAsync('dup/x', String(i), { qos: 1 });
    await end(pub);

    sub = await rawSession(t.mqttPort, 'dup-sub');
    const first = await publishes(sub, 4);
    expect(first.map(summary)).toEqual(['0', '1', '2', '3'].map((n) => [n, 1, false]));
    sub.send({ cmd: 'puback', messageId: first[0]?.messageId as number });
    await leave(sub);
    await t.stop();

    t = await startBroker({ dataDir });
    sub = await rawSession(t.mqttPort, 'dup-sub');
    const again = await publishes(sub, 3);
    // [MQTT-4.4.0-1] the same packet ids; [MQTT-3.3.1-1] DUP, since they were sent before.
    expect(again.map((p) => [p.payload.toString(), p.messageId, p.dup])).toEqual(first.slice(1).map((p) => [p.payload.toString(), p.messageId, true]));
    for (const p of again) sub.send({ cmd: 'puback', messageId: p.messageId as number });
    await leave(sub);
    sub = await rawSession(t.mqttPort, 'dup-sub');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sub.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
    await leave(sub);
  });

  it('after a SIGKILL, resends a QoS 2 PUBREL as PUBREL, a QoS 2 PUBLISH with its id, and QoS 1 ones with DUP, every id distinct', async () => {
    const dir = tempDir('roost-kill-inflight-');
    cleanup.push(() => dir.remove());
    const port = await freePort();
    const args = ['start', '--mqtt-port', String(port), '--data-dir', `${dir.path}/data`, '--log-level', 'info'];
    const first = new CliProcess(args, { cwd: dir.path });
    cleanup.push(() => first.dispose());
    await first.waitUntilReady();
    let sub = await rawSession(port, 'crash-sub');
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'crash/#', qos: 2 }] });
    await sub.next('suback');
    await leave(sub);
    const pub = await connect(port, { protocolVersion: 4 });
    await pub.publishAsync('crash/released', 'r', { qos: 2 });
    await pub.publishAsync('crash/received', 'p', { qos: 2 });
    await pub.publishAsync('crash/a', 'a', { qos: 1 });
    await pub.publishAsync('crash/b', 'b', { qos: 1 });
    await end(pub);

    sub = await rawSession(port, 'crash-sub');
    const sent = await publishes(sub, 4);
    expect(sent.map(summary)).toEqual([['r', 2, false], ['p', 2, false], ['a', 1, false], ['b', 1, false]]);
    const [released, received] = sent as [IPublishPacket, IPublishPacket];
    sub.send({ cmd: 'pubrec', messageId: released.messageId as number });
    // The broker stores the PUBREL state before it sends PUBREL.
    expect((await sub.next('pubrel')).messageId).toBe(released.messageId);
    first.child.kill('SIGKILL');
    await first.waitForExit();
    sub.destroy();

    const second = new CliProcess(args, { cwd: dir.path });
    cleanup.push(() => second.dispose());
    await second.waitUntilReady();
    sub = await rawSession(port, 'crash-sub');
    const resent: Packet[] = [await sub.next('pubrel'), ...(await publishes(sub, 3))];
    expect(resent[0]?.messageId).toBe(released.messageId);
    const [p, a, b] = resent.slice(1) as IPublishPacket[];
    expect(p && [...summary(p), p.messageId]).toEqual(['p', 2, true, received.messageId]);
    // The QoS 1 ids were in memory only: new ids, DUP since they may have arrived before.
    expect([a, b].map((x) => x && summary(x))).toEqual([['a', 1, true], ['b', 1, true]]);
    expect(new Set(resent.map((x) => x.messageId)).size).toBe(4);

    sub.send({ cmd: 'pubcomp', messageId: released.messageId as number });
    sub.send({ cmd: 'pubrec', messageId: received.messageId as number });
    expect((await sub.next('pubrel')).messageId).toBe(received.messageId);
    sub.send({ cmd: 'pubcomp', messageId: received.messageId as number });
    for (const x of [a, b]) sub.send({ cmd: 'puback', messageId: x?.messageId as number });
    await leave(sub);
    sub = await rawSession(port, 'crash-sub');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sub.packets.filter((x) => x.cmd === 'publish' || x.cmd === 'pubrel')).toEqual([]);
    await leave(sub);
    second.child.kill('SIGTERM');
    expect((await second.waitForExit()).code).toBe(0);
  });

  it('drops what an expired session had queued: a later session with its client id starts empty', async () => {
    const t = await startBroker();
    cleanup.push(() => t.close());
    const options = { protocolVersion: 5 as const, clientId: 'expires', clean: false, properties: { sessionExpiryInterval: 1 } };
    const sub = await connect(t.mqttPort, options);
    await sub.subscribeAsync('expiring/#', { qos: 1 });
    await sub.endAsync();
    const pub = await connect(t.mqttPort, { protocolVersion: 4 });
    for (let i = 0; i < 3; i++) await pub.publishAsync('expiring/x', String(i), { qos: 1 });
    await end(pub);
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    const later = await rawSession(t.mqttPort, 'expires');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(later.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
    expect(t.broker.store.queues.length('mqtt:expires')).toBe(0);
    await leave(later);
  });
});
