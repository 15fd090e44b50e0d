import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../src/core/message.js';
import type { ConsumerHandle, DurableQueue, QueueDelivery } from '../../src/core/queue.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';

const msg = (body: string): Message => ({ cmd: 'publish', topic: 'q/test', payload: Buffer.from(body), qos: 1, retain: false });

/** A consumer that records deliveries, acks each one as it arrives when `autoAckEach`, and can wait for a count. */
function consumer(queue: DurableQueue, prefetch: number, ackEach: boolean) {
  const got: QueueDelivery[] = [];
  let handle: ConsumerHandle | undefined;
  const acks: Promise<boolean>[] = [];
  handle = queue.consume({
    prefetch,
    autoAck: false,
    deliver(d) {
      got.push(d);
      // The handle exists before the first delivery: consume() hands nothing over in its own call.
      if (ackEach) acks.push((handle as ConsumerHandle).ack(d.deliveryId));
    },
  });
  const waitFor = async (n: number, timeoutMs = 10_000): Promise<string[]> => {
    const deadline = Date.now() + timeoutMs;
    while (got.length < n) {
      if (Date.now() > deadline) throw new Error(`got ${got.length} of ${n} deliveries`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return got.map((d) => d.message.payload.toString());
  };
  return { got, handle, acks, waitFor };
}

const settle = (ms = 100): Promise<void> => new Promise((r) => setTimeout(r, ms));
const bodies = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => String(from + i));

describe('queue dispatch', () => {
  const brokers: TestBroker[] = [];
  afterEach(async () => {
    for (const t of brokers.splice(0).reverse()) await t.close();
  });
  const broker = async (dataDir?: string): Promise<TestBroker> => {
    const t = await startBroker(dataDir === undefined ? {} : { dataDir });
    brokers.push(t);
    return t;
  };

  it('never hands out what a full drop-oldest queue dropped while its consumer was full', async () => {
    const t = await broker();
    const q = await t.broker.queues.open('rolling', { maxLength: 3, overflow: 'drop-oldest' });
    const c = consumer(q, 1, false);
    await q.enqueue(msg('1'));
    expect(await c.waitFor(1)).toEqual(['1']);
    // '1' is in flight; 4, 5 and 6 push out the three oldest entries: 1, 2 and 3.
    for (const body of ['2', '3', '4', '5', '6']) await q.enqueue(msg(body));
    for (let i = 0; i < 3; i++) {
      const last = c.got.at(-1) as QueueDelivery;
      await c.handle?.ack(last.deliveryId);
      await c.waitFor(i + 2);
    }
    await settle();
    expect(c.got.map((d) => d.message.payload.toString())).toEqual(['1', '4', '5', '6']);
    expect(q.stats().dropped).toBe(3);
  });

  it('delivers a backlog kept across a restart before what arrives meanwhile, each message once and in order', async () => {
    const first = await broker();
    const before = await first.broker.queues.open('backlog');
    for (const body of bodies(0, 600)) await before.enqueue(msg(body));
    await first.stop();

    const t = await broker(first.dataDir);
    const q = await t.broker.queues.open('backlog');
    const c = consumer(q, 50, true);
    // Producing while the backlog drains: the new messages queue up behind it.
    for (const body of bodies(600, 1_200)) await q.enqueue(msg(body));
    expect(await c.waitFor(1_200)).toEqual(bodies(0, 1_200));
    await Promise.all(c.acks);
    await settle();
    expect(c.got.length).toBe(1_200);
    expect(q.stats()).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('reads from the store when more messages wait than it holds in memory, then serves new ones again', async () => {
    const t = await broker();
    const q = await t.broker.queues.open('deep');
    await Promise.all(bodies(0, 3_000).map((body) => q.enqueue(msg(body))));
    const c = consumer(q, 100, true);
    expect(await c.waitFor(3_000)).toEqual(bodies(0, 3_000));
    for (const body of bodies(3_000, 3_010)) await q.enqueue(msg(body));
    expect(await c.waitFor(3_010)).toEqual(bodies(0, 3_010));
    await Promise.all(c.acks);
    await settle();
    expect(c.got.length).toBe(3_010);
    expect(q.stats()).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('does not redeliver acknowledged messages after a restart, and redelivers the unacknowledged ones', async () => {
    const first = await broker();
    const q = await first.broker.queues.open('acked');
    for (const body of bodies(0, 10)) await q.enqueue(msg(body));
    const c = consumer(q, 100, false);
    await c.waitFor(10);
    for (const d of c.got.slice(0, 6)) await c.handle?.ack(d.deliveryId);
    await first.stop();

    const t = await broker(first.dataDir);
    const again = consumer(await t.broker.queues.open('acked'), 100, false);
    expect(await again.waitFor(4)).toEqual(bodies(6, 10));
    await settle();
    expect(again.got.length).toBe(4);
  });
});
