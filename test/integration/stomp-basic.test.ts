import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Client as StompitClient } from 'stompit';
import { header } from '../../protocols/stomp/codec.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import {
  RawStomp,
  StompitInbox,
  stompPort,
  stompitConnect,
  stompitDisconnect,
  stompitSend,
} from '../helpers/stomp.js';

describe('STOMP with a legacy client (stompit)', () => {
  let t: TestBroker;
  let port: number;
  const clients: StompitClient[] = [];
  const raws: RawStomp[] = [];
  const open = async (headers: Record<string, string> = {}): Promise<StompitClient> => {
    const client = await stompitConnect(port, headers);
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  };
  const raw = async (headers: Record<string, string> = {}): Promise<RawStomp> => {
    const r = await RawStomp.connected(port, headers);
    raws.push(r);
    return r;
  };

  beforeEach(async () => {
    t = await startBroker();
    port = stompPort(t);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await Promise.all(raws.splice(0).map((r) => r.close()));
    await t.close();
  });

  it('connects with STOMP 1.2 and names the server and session', async () => {
    const client = await open();
    expect(client.headers['version']).toBe('1.2');
    expect(client.headers['server']).toMatch(/^roost\//);
    expect(client.headers['session']).toBeTruthy();
    await stompitDisconnect(client);
  });

  it('sends to a queue and receives with client-individual acks', async () => {
    const client = await open();
    await stompitSend(client, { destination: '/queue/work', 'content-type': 'text/plain', 'x-job': '7' }, 'job 7');
    const inbox = new StompitInbox();
    client.subscribe({ destination: '/queue/work', ack: 'client-individual' }, inbox.listener);
    await inbox.waitFor(1);
    const [got] = inbox.messages;
    expect(got?.body.toString()).toBe('job 7');
    expect(got?.headers['destination']).toBe('/queue/work');
    expect(got?.headers['content-type']).toBe('text/plain');
    expect(got?.headers['x-job']).toBe('7');
    expect(got?.headers['ack']).toBeTruthy();
    client.ack(got!.raw);
    await stompitDisconnect(client);
  });

  it('publish-subscribe on /topic with wildcards, binary bodies unchanged', async () => {
    const sub = await open();
    const inbox = new StompitInbox();
    sub.subscribe({ destination: '/topic/sensors/+/temp' }, inbox.listener);
    const probe = await raw();
    probe.send('SUBSCRIBE', { id: 'p', destination: '/topic/sensors/#', receipt: 'ready' });
    await probe.next('RECEIPT');
    const body = Buffer.from([0x00, 0xff, 0x10, 0x00, 0x0a]);
    const pub = await open();
    // stompit adds no content-length by itself, and a body holding NULs needs one.
    await stompitSend(pub, { destination: '/topic/sensors/kitchen/temp', 'content-length': body.length }, body);
    await inbox.waitFor(1);
    expect(inbox.messages[0]?.body).toEqual(body);
    expect(inbox.messages[0]?.headers['destination']).toBe('/topic/sensors/kitchen/temp');
    const viaRaw = await probe.next('MESSAGE');
    expect(viaRaw.body).toEqual(body);
    expect(header(viaRaw, 'content-length')).toBe('5');
  });

  it('redelivers a NACKed message, marked redelivered', async () => {
    const client = await open();
    await stompitSend(client, { destination: '/queue/retry' }, 'again');
    const inbox = new StompitInbox();
    client.subscribe({ destination: '/queue/retry', ack: 'client-individual' }, inbox.listener);
    await inbox.waitFor(1);
    client.nack(inbox.messages[0]!.raw);
    await inbox.waitFor(2);
    const second = inbox.messages[1];
    expect(second?.body.toString()).toBe('again');
    expect(second?.headers['redelivered']).toBe('true');
    expect(second?.headers['roost-delivery-count']).toBe('2');
    client.ack(second!.raw);
  });

  it('applies a transaction at COMMIT and drops it at ABORT', async () => {
    const client = await open();
    const inbox = new StompitInbox();
    client.subscribe({ destination: '/queue/tx' }, inbox.listener);
    const aborted = client.begin();
    aborted.send({ destination: '/queue/tx' }).end('never');
    await new Promise<void>((resolve) => aborted.abort({ onReceipt: resolve }));
    const tx = client.begin();
    tx.send({ destination: '/queue/tx' }).end('one');
    tx.send({ destination: '/queue/tx' }).end('two');
    await new Promise<void>((resolve) => tx.commit({ onReceipt: resolve }));
    await inbox.waitFor(2);
    expect(inbox.messages.map((m) => m.body.toString())).toEqual(['one', 'two']);
  });

  it('gives unacknowledged messages back to the queue when the consumer disconnects', async () => {
    const first = await open();
    await stompitSend(first, { destination: '/queue/handoff' }, 'm1');
    const inbox = new StompitInbox();
    first.subscribe({ destination: '/queue/handoff', ack: 'client' }, inbox.listener);
    await inbox.waitFor(1);
    first.destroy();
    const second = await open();
    const again = new StompitInbox();
    second.subscribe({ destination: '/queue/handoff', ack: 'client' }, again.listener);
    await again.waitFor(1);
    expect(again.messages[0]?.body.toString()).toBe('m1');
    expect(again.messages[0]?.headers['redelivered']).toBe('true');
  });

  it('answers requests on a temp queue through reply-to', async () => {
    const responder = await raw();
    responder.send('SUBSCRIBE', { id: 'in', destination: '/queue/rpc', receipt: 'r' });
    await responder.next('RECEIPT');
    const requester = await raw();
    requester.send('SUBSCRIBE', { id: 'out', destination: '/temp-queue/answers', receipt: 'r' });
    await requester.next('RECEIPT');
    requester.send('SEND', { destination: '/queue/rpc', 'reply-to': '/temp-queue/answers', 'correlation-id': 'q1' }, 'ping');
    const request = await responder.next('MESSAGE');
    const replyTo = header(request, 'reply-to') as string;
    expect(replyTo).toMatch(/^\/queue\/temp\./);
    responder.send('SEND', { destination: replyTo, 'correlation-id': header(request, 'correlation-id') as string }, 'pong');
    const reply = await requester.next('MESSAGE');
    expect(reply.body.toString()).toBe('pong');
    expect(header(reply, 'correlation-id')).toBe('q1');
    expect(header(reply, 'destination')).toBe('/temp-queue/answers');
  });

  it('keeps a durable topic subscription while its client is away', async () => {
    const first = await raw({ 'client-id': 'dash' });
    first.send('SUBSCRIBE', { id: 'alerts', destination: '/topic/alerts/#', 'activemq.subscriptionName': 'alerts', ack: 'client', receipt: 'r' });
    await first.next('RECEIPT');
    first.send('DISCONNECT', { receipt: 'bye' });
    await first.next('RECEIPT');
    await first.closed();

    const pub = await raw();
    pub.send('SEND', { destination: '/topic/alerts/fire', persistent: 'true', receipt: 'p' }, 'while away');
    await pub.next('RECEIPT');

    const second = await raw({ 'client-id': 'dash' });
    second.send('SUBSCRIBE', { id: 'alerts', destination: '/topic/alerts/#', 'activemq.subscriptionName': 'alerts', ack: 'client' });
    const message = await second.next('MESSAGE');
    expect(message.body.toString()).toBe('while away');
    expect(header(message, 'destination')).toBe('/topic/alerts/fire');
    second.send('ACK', { id: header(message, 'ack') as string });
    // Removing it: UNSUBSCRIBE with durable:true.
    second.send('UNSUBSCRIBE', { id: 'alerts', durable: 'true', receipt: 'gone' });
    await second.next('RECEIPT');
    pub.send('SEND', { destination: '/topic/alerts/fire', receipt: 'p2' }, 'nobody');
    await pub.next('RECEIPT');
    const third = await raw({ 'client-id': 'dash' });
    third.send('SUBSCRIBE', { id: 'alerts', destination: '/topic/alerts/#', 'activemq.subscriptionName': 'alerts', receipt: 'r3' });
    await third.next('RECEIPT');
    await expect(third.next('MESSAGE', 300)).rejects.toThrow(/no MESSAGE/);
  });

  it('speaks STOMP 1.0 and 1.1 to clients that ask for them', async () => {
    for (const version of ['1.0', '1.1']) {
      const r = await RawStomp.open(port);
      raws.push(r);
      r.send('CONNECT', version === '1.0' ? {} : { 'accept-version': version, host: 'roost' });
      const connected = await r.next('CONNECTED');
      expect(header(connected, 'version')).toBe(version);
      r.send('SUBSCRIBE', { id: 's', destination: `/queue/v${version}`, ack: 'client' });
      r.send('SEND', { destination: `/queue/v${version}`, 'x-colon': 'a:b' }, version);
      const message = await r.next('MESSAGE');
      expect(message.body.toString()).toBe(version);
      expect(header(message, 'x-colon')).toBe('a:b');
      const ack: Record<string, string> = { 'message-id': header(message, 'message-id') as string, receipt: 'a' };
      if (version === '1.1') ack['subscription'] = 's';
      r.send('ACK', ack);
      await r.next('RECEIPT');
    }
  });
});

describe('STOMP persistence', () => {
  it('delivers a queued message after a broker restart once its RECEIPT was sent', async () => {
    const first = await startBroker();
    try {
      const r = await RawStomp.connected(stompPort(first));
      r.send('SEND', { destination: '/queue/durable-q', persistent: 'true', receipt: 'stored' }, 'survives');
      await r.next('RECEIPT');
      await r.close();
    } finally {
      await first.stop();
    }
    const second = await startBroker({ dataDir: first.dataDir });
    try {
      const r = await RawStomp.connected(stompPort(second));
      r.send('SUBSCRIBE', { id: 's', destination: '/queue/durable-q', ack: 'client-individual' });
      const message = await r.next('MESSAGE');
      expect(message.body.toString()).toBe('survives');
      expect(header(message, 'persistent')).toBe('true');
      await r.close();
    } finally {
      await second.close();
    }
  });
});
