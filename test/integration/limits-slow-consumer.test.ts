import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { IConnectPacket, IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker.js';
import { configDefaults } from '../../src/config/schema.js';
import type { SlowConsumerConfig } from '../../src/config/types.js';
import { header } from '../../protocols/stomp/codec.js';
import { testConfig } from '../helpers/broker.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { RawStomp } from '../helpers/stomp.js';
import { until, WsMqtt, WsPeer } from '../helpers/ws.js';

/**
 * The slow-consumer policy (docs/limits.md, `limits.slowConsumer`): a
 * subscriber that stops reading (its socket paused) while another on the
 * same topic takes every message. The buffer is small, so a burst of a few
 * MB goes past what a paused loopback socket absorbs (about 4 MB here:
 * a receive buffer that is never read does not grow) and past the buffer.
 */
const BUFFER = 200;
const TIMEOUT_MS = 500;
const COUNT = 800;
const PAYLOAD_BYTES = 16 * 1024;
const TOPIC = 'slow/firehose';
// The flood takes a second or two; a frozen client must be cut off well within this.
const WAIT_MS = 15_000;

interface Started {
  readonly broker: Broker;
  readonly logLines: Array<Record<string, unknown>>;
  readonly mqtt: number;
  readonly stomp: number;
  readonly http: number;
}

const running: Array<{ broker: Broker; dataDir: string }> = [];
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const { broker, dataDir } of running.splice(0)) {
    await broker.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

/** A broker with the policy under test and a logger whose lines the test reads. */
async function start(policy: SlowConsumerConfig['policy'], buffer: Partial<SlowConsumerConfig> = {}): Promise<Started> {
  const dataDir = await mkdtemp(join(tmpdir(), 'roost-slow-'));
  const logLines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = testConfig({
    dataDir,
    limits: {
      ...configDefaults().limits,
      slowConsumer: { ...configDefaults().limits.slowConsumer, policy, maxPendingMessages: BUFFER, timeoutMs: TIMEOUT_MS, ...buffer },
    },
  });
  const broker = await Broker.start(config, pino({ level: 'info' }, sink), { ephemeralPorts: true });
  running.push({ broker, dataDir });
  return { broker, logLines, mqtt: broker.ports.mqtt ?? 0, stomp: broker.ports.stomp ?? 0, http: broker.ports.http ?? 0 };
}

function payload(seq: number): Buffer {
  const bytes = Buffer.alloc(PAYLOAD_BYTES, 0x78);
  bytes.write(String(seq).padStart(8, '0'), 0, 'latin1');
  return bytes;
}

const seqOf = (body: Buffer): number => Number(body.subarray(0, 8).toString('latin1'));
const inOrder = Array.from({ length: COUNT }, (_, i) => i);

/** Publishes COUNT messages to TOPIC as fast as the socket takes them. */
async function flood(port: number, qos: 0 | 1): Promise<RawMqtt> {
  const pub = track(await RawMqtt.connected(port, 4, { clientId: `pub-${qos}` }));
  for (let seq = 0; seq < COUNT; seq++) {
    pub.send({ cmd: 'publish', topic: TOPIC, payload: payload(seq), qos, retain: false, dup: false, ...(qos > 0 ? { messageId: seq + 1 } : {}) });
  }
  return pub;
}

function track<T extends { destroy(): void } | { close(): Promise<void> }>(peer: T): T {
  closers.push(() => ('destroy' in peer ? peer.destroy() : peer.close()));
  return peer;
}

async function mqttSubscriber(port: number, version: 4 | 5, clientId: string, connect: Partial<IConnectPacket> = {}, qos: 0 | 1 = 0): Promise<RawMqtt> {
  const raw = track(await RawMqtt.connected(port, version, { clientId, ...connect }));
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: TOPIC, qos }] });
  await raw.next('suback');
  return raw;
}

const mqttSeqs = (raw: RawMqtt): number[] =>
  raw.packets.filter((p): p is IPublishPacket => p.cmd === 'publish').map((p) => seqOf(p.payload as Buffer));

/** With a frozen consumer in place, floods TOPIC; resolves with `healthy` once it has every message, in order. */
async function floodPast<T>(b: Started, healthy: T, seqs: (consumer: T) => number[]): Promise<T> {
  await flood(b.mqtt, 0);
  await everyMessage(() => seqs(healthy));
  return healthy;
}

/** Waits for the `disconnect` policy to have ended `who`'s connection. */
async function disconnectedSlow(b: Started, who: string): Promise<void> {
  await until(() => b.broker.router.stats.disconnectedSlow === 1, `${who} is disconnected`, TIMEOUT_MS + WAIT_MS);
}

/** An MQTT 5 subscriber with its socket paused beside a healthy one, then the flood: the healthy one has every message. */
async function floodPastFrozenMqtt(b: Started): Promise<{ frozen: RawMqtt; healthy: RawMqtt }> {
  const frozen = await mqttSubscriber(b.mqtt, 5, 'frozen');
  frozen.socket.pause();
  const healthy = await floodPast(b, await mqttSubscriber(b.mqtt, 4, 'healthy'), mqttSeqs);
  return { frozen, healthy };
}

async function stompSubscriber(port: number): Promise<RawStomp> {
  const raw = track(await RawStomp.connected(port));
  raw.send('SUBSCRIBE', { id: 's', destination: `/topic/${TOPIC}`, receipt: 'subscribed' });
  await raw.next('RECEIPT');
  return raw;
}

const stompSeqs = (raw: RawStomp): number[] => raw.frames.filter((f) => f.command === 'MESSAGE').map((f) => seqOf(f.body));

async function wsMqttSubscriber(port: number, clientId: string, version: 4 | 5 = 4): Promise<WsMqtt> {
  const client = await WsMqtt.connected(port, clientId, version);
  track(client.peer);
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: TOPIC, qos: 0 }] });
  await until(() => client.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
  return client;
}

/** A STOMP client over WebSocket on a bare `ws` peer: one frame per message. */
async function wsStompSubscriber(port: number): Promise<WsPeer> {
  const peer = track(await WsPeer.open(`ws://127.0.0.1:${port}/stomp`, ['v12.stomp']));
  peer.ws.send('CONNECT\naccept-version:1.2\nhost:roost\n\n\0');
  peer.ws.send(`SUBSCRIBE\nid:s\ndestination:/topic/${TOPIC}\nreceipt:subscribed\n\n\0`);
  await until(() => wsFrames(peer).some((f) => f.startsWith('RECEIPT\n')), 'RECEIPT');
  return peer;
}

const wsFrames = (peer: WsPeer): string[] => peer.messages.map((m) => m.data.toString('latin1'));

/** The healthy subscriber got every message, in order, while the frozen one sat there. */
async function everyMessage(seqs: () => number[]): Promise<void> {
  await until(() => seqs().length >= COUNT, 'the healthy subscriber gets every message', WAIT_MS);
  expect(seqs()).toEqual(inOrder);
}

async function mqttAlive(raw: RawMqtt): Promise<void> {
  raw.send({ cmd: 'pingreq' });
  await raw.next('pingresp', WAIT_MS);
}

async function stompAlive(raw: RawStomp): Promise<void> {
  raw.send('SUBSCRIBE', { id: 'alive', destination: '/topic/alive', receipt: 'alive' });
  expect(header(await raw.next('RECEIPT', WAIT_MS), 'receipt-id')).toBe('alive');
}

describe('slow consumers, policy drop', () => {
  it('MQTT over TCP: drops past the buffer, counted and logged once, keeps the frozen client connected', async () => {
    const b = await start('drop');
    const { frozen, healthy } = await floodPastFrozenMqtt(b);

    const { droppedSlow, disconnectedSlow } = b.broker.router.stats;
    expect(droppedSlow).toBeGreaterThan(1);
    expect(disconnectedSlow).toBe(0);
    const reports = b.logLines.filter((l) => l['msg'] === 'slow consumer: messages past its buffer dropped');
    // Every drop is counted; the log names the client once per interval (10 s), not once per message.
    expect(reports).toEqual([expect.objectContaining({ proto: 'mqtt', clientId: 'frozen', dropped: 1, leftInStore: 0 })]);

    frozen.socket.resume();
    await mqttAlive(frozen);
    expect(mqttSeqs(frozen).length).toBe(COUNT - droppedSlow);
    expect(frozen.packets.some((p) => p.cmd === 'disconnect')).toBe(false);
    await mqttAlive(healthy);
  });

  it('MQTT over WebSocket: drops past the buffer and keeps the frozen client connected', async () => {
    const b = await start('drop');
    const frozen = await wsMqttSubscriber(b.http, 'frozen-ws');
    frozen.peer.ws.pause();
    const healthy = await floodPast(b, await mqttSubscriber(b.mqtt, 4, 'healthy'), mqttSeqs);
    expect(b.broker.router.stats.droppedSlow).toBeGreaterThan(0);

    frozen.peer.ws.resume();
    frozen.send({ cmd: 'pingreq' });
    await until(() => frozen.packets.some((p) => p.cmd === 'pingresp'), 'PINGRESP', WAIT_MS);
    expect(frozen.packets.filter((p) => p.cmd === 'publish').length).toBe(COUNT - b.broker.router.stats.droppedSlow);
    expect(frozen.peer.ws.readyState).toBe(frozen.peer.ws.OPEN);
  });

  it('STOMP over TCP: drops past the buffer and keeps the frozen subscriber connected', async () => {
    const b = await start('drop');
    const frozen = await stompSubscriber(b.stomp);
    frozen.socket.pause();
    const healthy = await floodPast(b, await stompSubscriber(b.stomp), stompSeqs);
    const { droppedSlow } = b.broker.router.stats;
    expect(droppedSlow).toBeGreaterThan(0);

    frozen.socket.resume();
    await stompAlive(frozen);
    expect(stompSeqs(frozen).length).toBe(COUNT - droppedSlow);
    expect(frozen.frames.some((f) => f.command === 'ERROR')).toBe(false);
  });

  it('STOMP over WebSocket: drops past the buffer and keeps the frozen subscriber connected', async () => {
    const b = await start('drop');
    const frozen = await wsStompSubscriber(b.http);
    frozen.ws.pause();
    const healthy = await floodPast(b, await stompSubscriber(b.stomp), stompSeqs);
    expect(b.broker.router.stats.droppedSlow).toBeGreaterThan(0);

    frozen.ws.resume();
    frozen.ws.send('SUBSCRIBE\nid:alive\ndestination:/topic/alive\nreceipt:alive\n\n\0');
    await until(() => wsFrames(frozen).some((f) => f.startsWith('RECEIPT\nreceipt-id:alive\n')), 'RECEIPT', WAIT_MS);
    expect(wsFrames(frozen).filter((f) => f.startsWith('MESSAGE\n')).length).toBe(COUNT - b.broker.router.stats.droppedSlow);
    expect(frozen.ws.readyState).toBe(frozen.ws.OPEN);
  });

  it('keeps a frozen persistent session\'s QoS 1 messages in the store, and delivers every one after it reconnects', async () => {
    const b = await start('drop');
    const frozen = await mqttSubscriber(b.mqtt, 4, 'durable', { clean: false }, 1);
    frozen.socket.pause();
    const healthy = await mqttSubscriber(b.mqtt, 4, 'healthy');
    await flood(b.mqtt, 1);
    await everyMessage(() => mqttSeqs(healthy));
    const { leftInStore, droppedSlow } = b.broker.router.stats;
    expect(leftInStore).toBeGreaterThan(0);
    expect(droppedSlow).toBe(0);

    frozen.destroy();
    const back = await reconnectAndCollect(b.mqtt, 'durable');
    expect([...back].sort((x, y) => x - y)).toEqual(inOrder);
  });
});

describe('slow consumers, a buffer counted in bytes', () => {
  // The same buffer as BUFFER messages, in bytes; the message count alone would never be reached.
  const inBytes = { maxPendingMessages: 100_000, maxPendingBytes: BUFFER * PAYLOAD_BYTES };

  it('drop: past maxPendingBytes messages to the frozen client are dropped and counted; the healthy one gets every message', async () => {
    const b = await start('drop', inBytes);
    const { frozen, healthy } = await floodPastFrozenMqtt(b);
    const { droppedSlow } = b.broker.router.stats;
    expect(droppedSlow).toBeGreaterThan(0);

    frozen.socket.resume();
    await mqttAlive(frozen);
    expect(mqttSeqs(frozen).length).toBe(COUNT - droppedSlow);
  });

  it('disconnect: the frozen client gets DISCONNECT 0x97 naming the buffer in bytes', async () => {
    const b = await start('disconnect', inBytes);
    const { frozen, healthy } = await floodPastFrozenMqtt(b);
    await disconnectedSlow(b, 'the frozen client');

    frozen.socket.resume();
    await frozen.closed(WAIT_MS);
    const goodbye = frozen.packets.at(-1) as IDisconnectPacket;
    expect(goodbye).toMatchObject({ cmd: 'disconnect', reasonCode: 0x97 });
    expect(goodbye.properties?.reasonString).toBe(`slow consumer: buffer of ${BUFFER * PAYLOAD_BYTES} bytes full for ${TIMEOUT_MS} ms`);
  });
});

describe('slow consumers, policy disconnect', () => {
  it('MQTT 5 over TCP: DISCONNECT 0x97 Quota exceeded after the timeout; the healthy subscriber is unaffected', async () => {
    const b = await start('disconnect');
    const { frozen, healthy } = await floodPastFrozenMqtt(b);
    await disconnectedSlow(b, 'the frozen client');
    expect(b.logLines).toContainEqual(expect.objectContaining({ msg: 'slow consumer: disconnecting', proto: 'mqtt', clientId: 'frozen' }));

    frozen.socket.resume();
    await frozen.closed(WAIT_MS);
    // What was buffered for it, then the DISCONNECT, and nothing after.
    const goodbye = frozen.packets.at(-1) as IDisconnectPacket;
    expect(goodbye.cmd).toBe('disconnect');
    expect(goodbye.reasonCode).toBe(0x97);
    expect(goodbye.properties?.reasonString).toMatch(/^slow consumer: buffer of 200 messages full for 500 ms$/);
    expect(mqttSeqs(frozen).length).toBeLessThan(COUNT);
    await mqttAlive(healthy);
  });

  it('MQTT over WebSocket: closed with 1008 after the timeout; the healthy subscriber is unaffected', async () => {
    const b = await start('disconnect');
    const frozen = await wsMqttSubscriber(b.http, 'frozen-ws');
    frozen.peer.ws.pause();
    const healthy = await floodPast(b, await mqttSubscriber(b.mqtt, 4, 'healthy'), mqttSeqs);
    await disconnectedSlow(b, 'the frozen client');

    frozen.peer.ws.resume();
    // MQTT 3.1.1 has no server DISCONNECT: the WebSocket close says why.
    expect(await frozen.peer.closed).toEqual({ code: 1008, reason: 'slow consumer: not reading' });
    expect(frozen.packets.filter((p) => p.cmd === 'publish').length).toBeLessThan(COUNT);
    await mqttAlive(healthy);
  });

  it('MQTT 5 over WebSocket: DISCONNECT 0x97, then close 1008', async () => {
    const b = await start('disconnect');
    const frozen = await wsMqttSubscriber(b.http, 'frozen-ws5', 5);
    frozen.peer.ws.pause();
    const healthy = await floodPast(b, await mqttSubscriber(b.mqtt, 4, 'healthy'), mqttSeqs);
    await disconnectedSlow(b, 'the frozen client');

    frozen.peer.ws.resume();
    expect(await frozen.peer.closed).toEqual({ code: 1008, reason: 'slow consumer: not reading' });
    expect(frozen.packets.at(-1)).toMatchObject({ cmd: 'disconnect', reasonCode: 0x97 });
    await mqttAlive(healthy);
  });

  it('STOMP over TCP: ERROR (message:slow consumer) after the timeout, then the close', async () => {
    const b = await start('disconnect');
    const frozen = await stompSubscriber(b.stomp);
    frozen.socket.pause();
    const healthy = await floodPast(b, await stompSubscriber(b.stomp), stompSeqs);
    await disconnectedSlow(b, 'the frozen subscriber');

    frozen.socket.resume();
    const error = await frozen.next('ERROR', WAIT_MS);
    expect(header(error, 'message')).toBe('slow consumer');
    expect(error.body.toString()).toMatch(/^slow consumer: buffer of 200 messages full for 500 ms\n/);
    await frozen.closed(WAIT_MS);
    expect(stompSeqs(frozen).length).toBeLessThan(COUNT);
    await stompAlive(healthy);
  });

  it('STOMP over WebSocket: ERROR after the timeout, then close 1008', async () => {
    const b = await start('disconnect');
    const frozen = await wsStompSubscriber(b.http);
    frozen.ws.pause();
    const healthy = await floodPast(b, await stompSubscriber(b.stomp), stompSeqs);
    await disconnectedSlow(b, 'the frozen subscriber');

    frozen.ws.resume();
    expect(await frozen.closed).toEqual({ code: 1008, reason: 'slow consumer: not reading' });
    const frames = wsFrames(frozen);
    expect(frames.at(-1)).toMatch(/^ERROR\nmessage:slow consumer\n/);
    expect(frames.filter((f) => f.startsWith('MESSAGE\n')).length).toBeLessThan(COUNT);
    await stompAlive(healthy);
  });

  it('disconnects a frozen persistent session without losing a QoS 1 message: every one arrives after it reconnects', async () => {
    const b = await start('disconnect');
    const frozen = await mqttSubscriber(b.mqtt, 4, 'durable', { clean: false }, 1);
    frozen.socket.pause();
    const healthy = await mqttSubscriber(b.mqtt, 4, 'healthy');
    await flood(b.mqtt, 1);
    await everyMessage(() => mqttSeqs(healthy));
    await disconnectedSlow(b, 'the frozen session');
    expect(b.broker.router.stats.droppedSlow).toBe(0);
    frozen.socket.resume();
    await frozen.closed(WAIT_MS);

    const back = await reconnectAndCollect(b.mqtt, 'durable');
    expect([...back].sort((x, y) => x - y)).toEqual(inOrder);
  });
});

/** Resumes persistent session `clientId`, acknowledging what it gets, until every message has arrived (at least once). */
async function reconnectAndCollect(port: number, clientId: string): Promise<Set<number>> {
  const raw = track(await RawMqtt.open(port, 4));
  const seen = new Set<number>();
  raw.socket.on('data', () => {
    for (const packet of raw.packets.splice(0)) {
      if (packet.cmd !== 'publish') continue;
      seen.add(seqOf(packet.payload as Buffer));
      raw.send({ cmd: 'puback', messageId: packet.messageId as number });
    }
  });
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: false, keepalive: 0 });
  await until(() => seen.size >= COUNT, `every message for ${clientId}`, WAIT_MS);
  return seen;
}
