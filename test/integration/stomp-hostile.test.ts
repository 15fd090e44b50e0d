import { afterEach, describe, expect, it } from 'vitest';
import { header } from '../../protocols/stomp/codec.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import type { StompConfig } from '../../src/config/types.js';
import { RawStomp, stompPort } from '../helpers/stomp.js';

describe('STOMP: hostile and broken clients', () => {
  let t: TestBroker | undefined;
  const raws: RawStomp[] = [];
  const start = async (stomp: Partial<StompConfig> = {}): Promise<number> => {
    t = await startBroker({ stomp });
    return stompPort(t);
  };
  const track = (r: RawStomp): RawStomp => {
    raws.push(r);
    return r;
  };

  afterEach(async () => {
    await Promise.all(raws.splice(0).map((r) => r.close()));
    await t?.close();
    t = undefined;
  });

  /** The broker still serves a fresh client: one bad connection affects nothing else. */
  async function stillServes(port: number): Promise<void> {
    const r = track(await RawStomp.connected(port));
    r.send('SUBSCRIBE', { id: 's', destination: '/topic/health' });
    r.send('SEND', { destination: '/topic/health', receipt: 'ok' }, 'fine');
    expect((await r.next('MESSAGE')).body.toString()).toBe('fine');
    await r.next('RECEIPT');
  }

  it('answers a frame before CONNECT with ERROR, then closes', async () => {
    const port = await start();
    const r = track(await RawStomp.open(port));
    r.writeRaw('SEND\ndestination:/topic/x\nreceipt:77\n\nhello\0');
    const error = await r.next('ERROR');
    expect(header(error, 'message')).toMatch(/before CONNECT/);
    expect(header(error, 'receipt-id')).toBe('77');
    expect(header(error, 'content-type')).toBe('text/plain');
    await r.closed();
    await stillServes(port);
  });

  it('answers an unsupported version with ERROR naming the supported ones', async () => {
    const port = await start();
    const r = track(await RawStomp.open(port));
    r.writeRaw('CONNECT\naccept-version:2.0\nhost:x\n\n\0');
    const error = await r.next('ERROR');
    expect(header(error, 'version')).toBe('1.0,1.1,1.2');
    await r.closed();
  });

  it('answers an oversized frame with ERROR as soon as the limit is passed', async () => {
    const port = await start({ maxFrameBytes: 8192, maxBodyBytes: 4096 });
    const r = track(await RawStomp.connected(port));
    r.writeRaw(`SEND\ndestination:/topic/x\n\n${'x'.repeat(100_000)}`);
    const error = await r.next('ERROR');
    expect(header(error, 'message')).toBe('limit exceeded');
    await r.closed();
    await stillServes(port);
  });

  it('answers a huge content-length with ERROR before the body arrives', async () => {
    const port = await start();
    const r = track(await RawStomp.connected(port));
    r.writeRaw('SEND\ndestination:/topic/x\ncontent-length:999999999999\n\n');
    expect(header(await r.next('ERROR'), 'message')).toBe('limit exceeded');
    await r.closed();
  });

  it('answers bad UTF-8 in a header with ERROR', async () => {
    const port = await start();
    const r = track(await RawStomp.connected(port));
    r.writeRaw(Buffer.concat([Buffer.from('SEND\ndestination:/topic/'), Buffer.from([0xc3, 0x28]), Buffer.from('\n\nx\0')]));
    expect(header(await r.next('ERROR'), 'message')).toBe('malformed frame');
    await r.closed();
  });

  it('answers garbage and undefined escapes with ERROR', async () => {
    const port = await start();
    const a = track(await RawStomp.connected(port));
    a.writeRaw('not a stomp frame at all\n\n\0');
    expect(header(await a.next('ERROR'), 'message')).toBe('malformed frame');
    await a.closed();
    const b = track(await RawStomp.connected(port));
    b.writeRaw('SEND\ndestination:/topic/a\\tb\n\nx\0');
    expect(header(await b.next('ERROR'), 'message')).toBe('malformed frame');
    await b.closed();
  });

  it('survives a truncated frame from a client that then goes away', async () => {
    const port = await start();
    const r = track(await RawStomp.connected(port));
    r.writeRaw('SEND\ndestination:/topic/x\ncontent-length:100\n\nonly part of it');
    r.socket.end();
    await r.closed();
    await stillServes(port);
  });

  it('answers a second CONNECT, an unknown command and a bad destination with ERROR', async () => {
    const port = await start();
    for (const bad of ['CONNECT\naccept-version:1.2\n\n\0', 'FROBNICATE\n\n\0', 'SEND\ndestination:/nowhere\n\nx\0']) {
      const r = track(await RawStomp.connected(port));
      r.writeRaw(bad);
      await r.next('ERROR');
      await r.closed();
    }
  });

  it('routes a flood of pipelined SENDs in order and answers the last receipt', async () => {
    const port = await start();
    const sub = track(await RawStomp.connected(port));
    sub.send('SUBSCRIBE', { id: 's', destination: '/queue/flood', ack: 'auto', receipt: 'r' });
    await sub.next('RECEIPT');
    const pub = track(await RawStomp.connected(port));
    const count = 5_000;
    const chunks: string[] = [];
    for (let i = 0; i < count; i++) chunks.push(`SEND\ndestination:/queue/flood\n${i === count - 1 ? 'receipt:last\n' : ''}\n${i}\0`);
    pub.writeRaw(chunks.join(''));
    await pub.next('RECEIPT', 20_000);
    const bodies: number[] = [];
    while (bodies.length < count) bodies.push(Number((await sub.next('MESSAGE', 20_000)).body.toString()));
    expect(bodies).toEqual([...Array(count).keys()]);
  });

  it('disconnects a subscriber that stops reading, without holding up anyone else', async () => {
    const port = await start({ drainTimeoutMs: 300 });
    const stuck = track(await RawStomp.connected(port));
    stuck.send('SUBSCRIBE', { id: 's', destination: '/topic/firehose', receipt: 'r' });
    await stuck.next('RECEIPT');
    stuck.socket.pause();
    const healthy = track(await RawStomp.connected(port));
    healthy.send('SUBSCRIBE', { id: 's', destination: '/topic/firehose', receipt: 'r' });
    await healthy.next('RECEIPT');
    const pub = track(await RawStomp.connected(port));
    // Well past what the socket buffers of both ends can absorb (Linux autotunes loopback receive buffers up to 32 MiB).
    const body = 'x'.repeat(128 * 1024);
    for (let i = 0; i < 640; i++) pub.send('SEND', { destination: '/topic/firehose' }, body);
    pub.send('SEND', { destination: '/topic/firehose', receipt: 'done' }, 'end');
    await pub.next('RECEIPT', 20_000);
    let last = '';
    while (last !== 'end') last = (await healthy.next('MESSAGE', 20_000)).body.toString();
    // Give the drain timer time to fire, then read what was buffered: a paused socket sees no EOF.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    stuck.socket.resume();
    await stuck.closed(10_000);
    // Cut off: it never got everything.
    expect(stuck.frames.filter((f) => f.command === 'MESSAGE').length).toBeLessThan(641);
  });

  it('stops feeding a stalled queue consumer and gives back what it did not take', async () => {
    const port = await start({ drainTimeoutMs: 300, defaultPrefetch: 50 });
    const stuck = track(await RawStomp.connected(port));
    stuck.send('SUBSCRIBE', { id: 's', destination: '/queue/backlog', receipt: 'r' });
    await stuck.next('RECEIPT');
    stuck.socket.pause();
    const pub = track(await RawStomp.connected(port));
    // 80 MiB: more than the socket buffers of both ends can hold, so the socket stays full.
    const count = 640;
    const body = (i: number): string => `${i}:${'y'.repeat(128 * 1024)}`;
    for (let i = 0; i < count; i++) pub.send('SEND', { destination: '/queue/backlog', ...(i === count - 1 ? { receipt: 'all' } : {}) }, body(i));
    await pub.next('RECEIPT', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    stuck.socket.resume();
    await stuck.closed(10_000);
    const seen = new Set(stuck.frames.filter((f) => f.command === 'MESSAGE').map((f) => Number(f.body.toString().split(':')[0])));
    expect(seen.size).toBeLessThan(count);
    // At least once: whatever the stalled consumer did not get is still in the queue.
    const next = track(await RawStomp.connected(port));
    next.send('SUBSCRIBE', { id: 's', destination: '/queue/backlog' });
    while (seen.size < count) seen.add(Number((await next.next('MESSAGE', 20_000)).body.toString().split(':')[0]));
    expect(seen.size).toBe(count);
  });

  it('sends heart-beats at the negotiated interval', async () => {
    const port = await start({ heartbeatSendMs: 100, heartbeatReceiveMs: 0 });
    const r = track(await RawStomp.open(port));
    r.send('CONNECT', { 'accept-version': '1.2', 'heart-beat': '0,100' });
    const connected = await r.next('CONNECTED');
    expect(header(connected, 'heart-beat')).toBe('100,0');
    await new Promise((resolve) => setTimeout(resolve, 550));
    expect(r.heartbeats).toBeGreaterThanOrEqual(3);
  });

  it('closes with ERROR a client that stops sending its heart-beats', async () => {
    const port = await start({ heartbeatSendMs: 0, heartbeatReceiveMs: 100 });
    const r = track(await RawStomp.open(port));
    r.send('CONNECT', { 'accept-version': '1.2', 'heart-beat': '100,0' });
    await r.next('CONNECTED');
    // Beats for a while keep it open ...
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 80));
      r.writeRaw('\n');
    }
    expect(r.isClosed).toBe(false);
    // ... silence ends it after twice the interval.
    const error = await r.next('ERROR', 2_000);
    expect(header(error, 'message')).toBe('heart-beat timeout');
    await r.closed();
  });

  it('closes a connection that never sends CONNECT', async () => {
    const port = await start({ connectTimeoutMs: 200 });
    const r = track(await RawStomp.open(port));
    await r.next('ERROR', 2_000);
    await r.closed();
  });
});
