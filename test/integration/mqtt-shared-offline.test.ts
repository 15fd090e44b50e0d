import type { IPublishPacket } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';

/**
 * A shared group whose members are all offline: each message is queued for
 * one persistent member, in turn (docs/mqtt-engine.md, "Shared subscriptions
 * and persistence"), and none while a member is online.
 */
const GROUP_FILTER = '$share/workers/jobs/#';
const COUNT = 10;
const peers: RawMqtt[] = [];
let tb: TestBroker | undefined;

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.destroy();
  await tb?.close();
  tb = undefined;
});

/** A v5 session that outlives its connection; `resume` reconnects to it. */
async function member(port: number, clientId: string, resume = false): Promise<RawMqtt> {
  const raw = await RawMqtt.connected(port, 5, { clientId, clean: !resume, properties: { sessionExpiryInterval: 300 } });
  peers.push(raw);
  return raw;
}

async function subscribedMember(port: number, clientId: string): Promise<RawMqtt> {
  const raw = await member(port, clientId);
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: GROUP_FILTER, qos: 1 }] });
  await raw.next('suback');
  return raw;
}

async function publishJobs(port: number): Promise<void> {
  const publisher = await RawMqtt.connected(port, 5, { clientId: 'producer' });
  peers.push(publisher);
  for (let i = 0; i < COUNT; i++) {
    publisher.send({ cmd: 'publish', topic: `jobs/${i}`, payload: Buffer.from(`job-${i}`), qos: 1, retain: false, dup: false, messageId: i + 1 });
  }
  for (let i = 0; i < COUNT; i++) await publisher.next('puback');
}

async function disconnect(raw: RawMqtt): Promise<void> {
  raw.send({ cmd: 'disconnect' });
  await raw.closed();
}

/** Takes `count` PUBLISH packets from `raw`, acknowledging each, and returns their payloads. */
async function take(raw: RawMqtt, count: number): Promise<string[]> {
  const got: string[] = [];
  while (got.length < count) {
    const packet = (await raw.next('publish')) as IPublishPacket;
    if (packet.messageId !== undefined) raw.send({ cmd: 'puback', messageId: packet.messageId });
    got.push(String(packet.payload));
  }
  return got;
}

const jobs = Array.from({ length: COUNT }, (_, i) => `job-${i}`);

describe('shared subscriptions while every member is offline', () => {
  it('queues each message for one persistent member, in turn; each is delivered once when the members come back', async () => {
    tb = await startBroker();
    await disconnect(await subscribedMember(tb.mqttPort, 'worker-a'));
    await disconnect(await subscribedMember(tb.mqttPort, 'worker-b'));

    await publishJobs(tb.mqttPort);

    const a = await member(tb.mqttPort, 'worker-a', true);
    const b = await member(tb.mqttPort, 'worker-b', true);
    const [gotA, gotB] = await Promise.all([take(a, COUNT / 2), take(b, COUNT / 2)]);
    expect([...gotA, ...gotB].sort()).toEqual([...jobs].sort());
    // And no second copy to either.
    await expect(a.next('publish', 300)).rejects.toThrow(/no publish within/);
    await expect(b.next('publish', 300)).rejects.toThrow(/no publish within/);
  });

  it('keeps what it queued for the group across a restart of the broker', async () => {
    tb = await startBroker();
    const dataDir = tb.dataDir;
    await disconnect(await subscribedMember(tb.mqttPort, 'worker-a'));
    await publishJobs(tb.mqttPort);
    await tb.stop();

    tb = await startBroker({ dataDir });
    const a = await member(tb.mqttPort, 'worker-a', true);
    expect((await take(a, COUNT)).sort()).toEqual([...jobs].sort());
  });

  it('queues nothing while a member is online: the online member gets every message, the offline one none', async () => {
    tb = await startBroker();
    await disconnect(await subscribedMember(tb.mqttPort, 'worker-a'));
    const b = await subscribedMember(tb.mqttPort, 'worker-b');

    await publishJobs(tb.mqttPort);
    expect((await take(b, COUNT)).sort()).toEqual([...jobs].sort());

    const a = await member(tb.mqttPort, 'worker-a', true);
    // Anything queued for worker-a would follow its CONNACK at once.
    await expect(a.next('publish', 500)).rejects.toThrow(/no publish within/);
  });
});
