import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Message } from '../../src/core/message.js';
import type { ConsumerHandle, DurableQueue, QueueDelivery } from '../../src/core/queue.js';
import { hasCode } from '../../src/core/errors.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connect, end } from '../helpers/mqtt.js';

const msg = (body: string, topic = 'q/test'): Message => ({ cmd: 'publish', topic, payload: Buffer.from(body), qos: 1, retain: false });

/** A consumer that records deliveries and can wait for a count. */
function consumer(queue: DurableQueue, prefetch: number, autoAck = false) {
  const got: QueueDelivery[] = [];
  const waiters: (() => void)[] = [];
  const handle: ConsumerHandle = queue.consume({
    prefetch,
    autoAck,
    deliver(d) {
      got.push(d);
      for (const w of waiters.splice(0)) w();
    },
  });
  const waitFor = async (n: number, timeoutMs = 3_000): Promise<QueueDelivery[]> => {
    const deadline = Date.now() + timeoutMs;
    while (got.length < n) {
      if (Date.now() > deadline) throw new Error(`got ${got.length} of ${n} deliveries`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return got;
  };
  return { got, handle, waitFor };
}

const settle = (ms = 100): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('durable queues', () => {
  let t: TestBroker;
  beforeEach(async () => {
    t = await startBroker();
  });
  afterEach(async () => {
    await t.close();
  });

  it('serves competing consumers round-robin, each within its prefetch', async () => {
    const q = await t.broker.queues.open('work');
    for (let i = 0; i < 6; i++) await q.enqueue(msg(String(i)));
    const a = consumer(q, 2);
    const b = consumer(q, 2);
    await a.waitFor(2);
    await b.waitFor(2);
    await settle();
    expect(a.got.length + b.got.length).toBe(4);
    expect(q.stats().unacked).toBe(4);
    await a.handle.ack(a.got[0]!.deliveryId);
    await a.waitFor(3);
    const bodies = [...a.got, ...b.got].map((d) => d.message.payload.toString()).sort();
    expect(bodies).toEqual(['0', '1', '2', '3', '4']);
  });

  it('redelivers a nacked message, marked, with its delivery count', async () => {
    const q = await t.broker.queues.open('retry');
    await q.enqueue(msg('job'));
    const c = consumer(q, 1);
    const [first] = await c.waitFor(1);
    expect(first?.redelivered).toBe(false);
    await c.handle.nack(first!.deliveryId);
    const [, second] = await c.waitFor(2);
    expect(second?.message.payload.toString()).toBe('job');
    expect(second?.redelivered).toBe(true);
    expect(second?.deliveryCount).toBe(2);
  });

  it('gives unacknowledged messages back when a consumer goes away', async () => {
    const q = await t.broker.queues.open('handover');
    for (let i = 0; i < 3; i++) await q.enqueue(msg(String(i)));
    const first = consumer(q, 10);
    await first.waitFor(3);
    await first.handle.ack(first.got[0]!.deliveryId);
    await first.handle.close();
    const second = consumer(q, 10);
    const got = await second.waitFor(2);
    expect(got.map((d) => [d.message.payload.toString(), d.redelivered])).toEqual([
      ['1', true],
      ['2', true],
    ]);
  });

  it('dead-letters a message after maxDeliveries', async () => {
    const q = await t.broker.queues.open('poison', { maxDeliveries: 2 });
    await q.enqueue(msg('bad'));
    const c = consumer(q, 1);
    await c.waitFor(1);
    await c.handle.nack(c.got[0]!.deliveryId);
    await c.waitFor(2);
    await c.handle.nack(c.got[1]!.deliveryId);
    await settle();
    expect(q.stats().ready + q.stats().unacked).toBe(0);
    const dlq = await t.broker.queues.open('DLQ.poison');
    const dead = consumer(dlq, 1);
    expect((await dead.waitFor(1))[0]?.message.payload.toString()).toBe('bad');
  });

  it('rejects a publish to a full queue whose overflow policy is reject', async () => {
    const q = await t.broker.queues.open('bounded', { maxLength: 2, overflow: 'reject' });
    await q.enqueue(msg('1'));
    await q.enqueue(msg('2'));
    const err = await q.enqueue(msg('3')).catch((e: unknown) => e);
    expect(hasCode(err, 'QUEUE_FULL')).toBe(true);
    expect(q.stats().dropped).toBe(1);
  });

  it('drops the oldest of a full drop-oldest queue', async () => {
    const q = await t.broker.queues.open('rolling', { maxLength: 2, overflow: 'drop-oldest' });
    for (const body of ['1', '2', '3']) await q.enqueue(msg(body));
    const c = consumer(q, 10);
    await c.waitFor(2);
    await settle();
    expect(c.got.map((d) => d.message.payload.toString())).toEqual(['2', '3']);
  });

  it('expires messages older than the queue TTL before delivery', async () => {
    const q = await t.broker.queues.open('fresh', { ttlMs: 50 });
    await q.enqueue(msg('stale'));
    await settle(120);
    await q.enqueue(msg('fresh'));
    const c = consumer(q, 10);
    await c.waitFor(1);
    await settle();
    expect(c.got.map((d) => d.message.payload.toString())).toEqual(['fresh']);
  });

  it('collects MQTT publishes on a bound filter, acknowledging the publisher after the store', async () => {
    await t.broker.queues.bind('telemetry', 'sensors/#', { persistent: true });
    const pub = await connect(t.mqttPort, { protocolVersion: 5 });
    await pub.publishAsync('sensors/a/temp', Buffer.from([1, 2, 3]), { qos: 1, properties: { contentType: 'application/x-raw' } });
    await pub.publishAsync('other/x', 'ignored', { qos: 1 });
    await end(pub);
    const q = await t.broker.queues.open('telemetry');
    expect(q.stats().ready).toBe(1);
    const c = consumer(q, 1);
    const [d] = await c.waitFor(1);
    expect(d?.message.topic).toBe('sensors/a/temp');
    expect([...(d?.message.payload ?? [])]).toEqual([1, 2, 3]);
    expect(d?.message.properties?.contentType).toBe('application/x-raw');
  });

  it('restores a durable queue with the settings it was declared with; a stored field of the wrong type falls back to the default', async () => {
    await t.broker.queues.open('orders', { maxLength: 5, overflow: 'reject', ttlMs: 60_000 });
    // A record as another version might have left it: a known field with a value of the wrong type.
    await t.broker.store.catalog.putQueue('legacy', { maxLength: 'many', overflow: 'reject' });
    await t.stop();

    const t2 = await startBroker({ dataDir: t.dataDir });
    try {
      expect(t2.broker.queues.opened('orders')?.settings).toMatchObject({ maxLength: 5, overflow: 'reject', ttlMs: 60_000, durable: true });
      const legacy = t2.broker.queues.opened('legacy')?.settings;
      expect(legacy?.overflow).toBe('reject');
      const fresh = await t2.broker.queues.open('fresh', { durable: false });
      expect(legacy?.maxLength).toBe(fresh.settings.maxLength);
    } finally {
      await t2.stop();
    }
  });

  it('keeps durable queues, their messages and persistent bindings across a restart; forgets temp queues', async () => {
    await t.broker.queues.bind('kept', 'keep/#', { persistent: true });
    const temp = await t.broker.queues.open('scratch', { durable: false });
    await temp.enqueue(msg('temporary'));
    const pub = await connect(t.mqttPort, { protocolVersion: 4 });
    await pub.publishAsync('keep/1', 'before', { qos: 1 });
    await end(pub);
    await t.stop();

    const t2 = await startBroker({ dataDir: t.dataDir });
    try {
      const pub2 = await connect(t2.mqttPort, { protocolVersion: 4 });
      await pub2.publishAsync('keep/2', 'after', { qos: 1 });
      await end(pub2);
      const kept = await t2.broker.queues.open('kept');
      const c = consumer(kept, 10);
      await c.waitFor(2);
      expect(c.got.map((d) => d.message.payload.toString())).toEqual(['before', 'after']);
      const scratch = await t2.broker.queues.open('scratch', { durable: false });
      expect(scratch.stats().ready).toBe(0);
    } finally {
      await t2.stop();
    }
  });
});
