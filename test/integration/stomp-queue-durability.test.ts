import { afterEach, describe, expect, it } from 'vitest';
import { header } from '../../protocols/stomp/codec.js';
import type { StompFrame } from '../../protocols/stomp/codec.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { CliProcess, freePort, tempDir } from '../helpers/cli-process.js';
import { RawStomp, stompPort } from '../helpers/stomp.js';

describe('STOMP queue durability under pipelining', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });
  const client = async (port: number): Promise<RawStomp> => {
    const r = await RawStomp.connected(port);
    cleanup.push(() => r.close());
    return r;
  };

  it('answers 2,000 pipelined receipted SENDs in order, each after its message is stored', async () => {
    const t: TestBroker = await startBroker();
    cleanup.push(() => t.close());
    const producer = await client(stompPort(t));
    const count = 2_000;
    const frames: string[] = [];
    for (let i = 0; i < count; i++) frames.push(`SEND\ndestination:/queue/ordered\npersistent:true\nreceipt:r${i}\n\n${i}\0`);
    producer.writeRaw(frames.join(''));
    const receipts: string[] = [];
    while (receipts.length < count) receipts.push(header(await producer.next('RECEIPT', 20_000), 'receipt-id') ?? '');
    expect(receipts).toEqual(Array.from({ length: count }, (_, i) => `r${i}`));
    const queue = await t.broker.queues.open('ordered');
    expect(queue.stats().ready).toBe(count);
  });

  it('answers a receipted SEND that opens a temp queue for its reply-to with exactly one RECEIPT', async () => {
    const t: TestBroker = await startBroker();
    cleanup.push(() => t.close());
    const producer = await client(stompPort(t));
    producer.send('SEND', { destination: '/queue/requests', 'reply-to': '/temp-queue/answers', receipt: 'asked' }, 'question');
    producer.send('SEND', { destination: '/queue/requests', receipt: 'after' }, 'next');
    const answers = [await producer.next('RECEIPT'), await producer.next('RECEIPT')].map((f) => header(f, 'receipt-id'));
    expect(answers).toEqual(['asked', 'after']);
    await expect(producer.next('RECEIPT', 300)).rejects.toThrow();
  });

  it('does not redeliver, after a SIGKILL, messages whose ACKs a later RECEIPT confirmed; redelivers the others', async () => {
    const dir = tempDir('roost-stomp-acks-');
    cleanup.push(() => dir.remove());
    const [mqttPort, port] = [await freePort(), await freePort()];
    const args = ['start', '--mqtt-port', String(mqttPort), '--stomp-port', String(port), '--http-port', '0', '--data-dir', `${dir.path}/data`];
    const first = new CliProcess(args, { cwd: dir.path });
    cleanup.push(() => first.dispose());
    await first.waitUntilReady();

    const total = 100;
    const acked = 60;
    const consumer = await client(port);
    consumer.send('SUBSCRIBE', { id: 's', destination: '/queue/acked', ack: 'client-individual', 'prefetch-count': '1000', receipt: 'sub' });
    await consumer.next('RECEIPT');
    const producer = await client(port);
    for (let i = 0; i < total; i++) producer.send('SEND', { destination: '/queue/acked', persistent: 'true', receipt: `r${i}` }, `m${i}`);
    for (let i = 0; i < total; i++) await producer.next('RECEIPT');
    const delivered: StompFrame[] = [];
    while (delivered.length < total) delivered.push(await consumer.next('MESSAGE'));
    // ACKs without receipts, then one that asks: its RECEIPT vouches for every ACK before it.
    for (const [i, message] of delivered.slice(0, acked).entries()) {
      consumer.send('ACK', { id: header(message, 'ack') ?? '', ...(i === acked - 1 ? { receipt: 'acks' } : {}) });
    }
    expect(header(await consumer.next('RECEIPT'), 'receipt-id')).toBe('acks');
    first.child.kill('SIGKILL');
    await first.waitForExit();

    const second = new CliProcess(args, { cwd: dir.path });
    cleanup.push(() => second.dispose());
    await second.waitUntilReady();
    const again = await client(port);
    again.send('SUBSCRIBE', { id: 's', destination: '/queue/acked', ack: 'client-individual', 'prefetch-count': '1000' });
    const redelivered = await again.collect('MESSAGE', 1_000);
    expect(redelivered.map((f) => f.body.toString())).toEqual(Array.from({ length: total - acked }, (_, i) => `m${acked + i}`));
  });
});
