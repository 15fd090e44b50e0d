import { describe, it, expect } from 'vitest';
import { Router } from '../../src/core/router.js';
import type { RouteTarget } from '../../src/core/router.js';
import type { Message } from '../../src/core/message.js';
import type {
  ConsumerHandle,
  DurableQueue,
  QueueConsumer,
  QueueRegistry,
  QueueSettings,
  QueueStats,
} from '../../src/core/queue.js';
import { RoostError } from '../../src/core/errors.js';
import { header } from '../../protocols/stomp/codec.js';
import type { StompFrame } from '../../protocols/stomp/codec.js';
import { StompSession } from '../../protocols/stomp/session.js';
import { negotiateHeartBeat, parseHeartBeat } from '../../protocols/stomp/heartbeat.js';
import type { SessionOutput, StompClock, StompSessionOptions, StompAuthenticate } from '../../protocols/stomp/session.js';

// ------------------------------------------------------------------ fakes

/** A clock whose time moves only when told; timers fire in time order. */
class FakeClock implements StompClock {
  nowMs = 1_700_000_000_000;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.nowMs;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.nowMs + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  get pending(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.nowMs = next[1].at;
      next[1].fn();
    }
    this.nowMs = target;
  }
}

class Sink {
  readonly outputs: SessionOutput[] = [];
  writable = true;
  #read = 0;

  send(output: SessionOutput): boolean {
    this.outputs.push(output);
    return this.writable;
  }

  /** Frames sent so far (heart-beats and close left out). */
  get frames(): StompFrame[] {
    return this.outputs.flatMap((o) => (o.kind === 'frame' ? [o.frame] : []));
  }

  /** Frames sent since the last call. */
  fresh(): StompFrame[] {
    const out = this.outputs.slice(this.#read);
    this.#read = this.outputs.length;
    return out.flatMap((o) => (o.kind === 'frame' ? [o.frame] : []));
  }

  get closed(): boolean {
    return this.outputs.some((o) => o.kind === 'close');
  }

  get heartbeats(): number {
    return this.outputs.filter((o) => o.kind === 'heartbeat').length;
  }
}

interface Entry {
  readonly message: Message;
  deliveries: number;
}

/** In-memory queue with the contract's semantics: prefetch, ack, nack → redelivered, close → back to queue. */
class FakeQueue implements DurableQueue {
  readonly name: string;
  readonly settings: QueueSettings;
  readonly ready: Entry[] = [];
  readonly unacked = new Map<string, { entry: Entry; consumer: QueueConsumer }>();
  readonly consumers: QueueConsumer[] = [];
  acked = 0;
  /** When set, enqueue waits for this before it resolves (to test RECEIPT timing). */
  gate: Promise<void> | undefined;
  #next = 0;
  static #deliverySeq = 0;

  constructor(name: string, settings: Partial<QueueSettings>) {
    this.name = name;
    this.settings = { maxLength: 1000, overflow: 'reject', ttlMs: 0, maxDeliveries: 0, deadLetter: null, durable: true, ...settings };
  }

  async enqueue(message: Message): Promise<void> {
    if (this.gate) await this.gate;
    this.ready.push({ message, deliveries: 0 });
    this.pump();
  }

  consume(consumer: QueueConsumer): ConsumerHandle {
    this.consumers.push(consumer);
    this.pump();
    return {
      ack: async (id) => {
        const had = this.unacked.delete(id);
        if (had) this.acked++;
        this.pump();
        return had;
      },
      nack: async (id) => {
        const held = this.unacked.get(id);
        if (!held) return false;
        this.unacked.delete(id);
        this.ready.unshift(held.entry);
        this.pump();
        return true;
      },
      close: async () => {
        const at = this.consumers.indexOf(consumer);
        if (at >= 0) this.consumers.splice(at, 1);
        const back = [...this.unacked].filter(([, v]) => v.consumer === consumer);
        for (const [id, v] of back.reverse()) {
          this.unacked.delete(id);
          this.ready.unshift(v.entry);
        }
        this.pump();
      },
    };
  }

  stats(): QueueStats {
    return { ready: this.ready.length, unacked: this.unacked.size, expired: 0, deadLettered: 0, dropped: 0 };
  }

  pump(): void {
    for (;;) {
      if (this.ready.length === 0) return;
      const free = this.consumers.filter((c) => c.prefetch === 0 || [...this.unacked.values()].filter((u) => u.consumer === c).length < c.prefetch);
      if (free.length === 0) return;
      const consumer = free[this.#next++ % free.length] as QueueConsumer;
      const entry = this.ready.shift() as Entry;
      entry.deliveries++;
      const deliveryId = `d${++FakeQueue.#deliverySeq}`;
      this.unacked.set(deliveryId, { entry, consumer });
      consumer.deliver({ deliveryId, queue: this.name, message: entry.message, deliveryCount: entry.deliveries, redelivered: entry.deliveries > 1 });
    }
  }
}

class FakeRegistry implements QueueRegistry {
  readonly queues = new Map<string, FakeQueue>();
  readonly bindings = new Map<string, { filter: string; target: RouteTarget; persistent: boolean }>();
  readonly deleted: string[] = [];
  readonly #router: Router;

  constructor(router: Router) {
    this.#router = router;
  }

  async open(name: string, settings: Partial<QueueSettings> = {}): Promise<FakeQueue> {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new FakeQueue(name, settings);
      this.queues.set(name, queue);
    }
    return queue;
  }

  async bind(queue: string, filter: string, options: { readonly persistent?: boolean } = {}): Promise<void> {
    const key = `${queue}\u0000${filter}`;
    if (this.bindings.has(key)) return;
    const target: RouteTarget = {
      durable: true,
      deliver: (message, accepted) => {
        const q = this.queues.get(queue);
        if (!q) return accepted();
        q.enqueue(message).then(() => accepted(), accepted);
      },
    };
    this.bindings.set(key, { filter, target, persistent: options.persistent ?? false });
    this.#router.subscribe(filter, target);
  }

  async unbind(queue: string, filter: string): Promise<void> {
    const key = `${queue}\u0000${filter}`;
    const binding = this.bindings.get(key);
    if (!binding) return;
    this.bindings.delete(key);
    this.#router.unsubscribe(filter, binding.target);
  }

  async delete(name: string): Promise<void> {
    this.deleted.push(name);
    this.queues.delete(name);
  }
}

// ---------------------------------------------------------------- helpers

const silentLog = { debug: () => undefined, info: () => undefined, error: () => undefined };

type Headers = Record<string, string> | ReadonlyArray<readonly [string, string]>;

function frame(command: string, headers: Headers = {}, body: string | Buffer = ''): StompFrame {
  return {
    command,
    headers: Array.isArray(headers) ? headers : Object.entries(headers),
    body: typeof body === 'string' ? Buffer.from(body) : body,
  };
}

interface Setup {
  readonly router: Router;
  readonly queues: FakeRegistry;
  readonly clock: FakeClock;
  readonly sink: Sink;
  readonly session: StompSession;
  /** Feeds frames and waits until the session has handled them. */
  send(command: string, headers?: Headers, body?: string | Buffer): Promise<void>;
  /** Connects and returns the CONNECTED frame. */
  connect(headers?: Headers): Promise<StompFrame>;
}

function setup(
  options: Partial<StompSessionOptions> = {},
  extra: { authenticate?: StompAuthenticate; id?: string; router?: Router; queues?: FakeRegistry; clock?: FakeClock } = {},
): Setup {
  const router = extra.router ?? new Router();
  const queues = extra.queues ?? new FakeRegistry(router);
  const clock = extra.clock ?? new FakeClock();
  const sink = new Sink();
  const session = new StompSession({
    id: extra.id ?? 'S1',
    router,
    queues,
    sink,
    log: silentLog,
    clock,
    ...(extra.authenticate ? { authenticate: extra.authenticate } : {}),
    options: { heartbeatSendMs: 0, heartbeatReceiveMs: 0, ...options },
  });
  const send = async (command: string, headers: Headers = {}, body: string | Buffer = ''): Promise<void> => {
    await session.receive([{ kind: 'frame', frame: frame(command, headers, body) }]);
  };
  return {
    router,
    queues,
    clock,
    sink,
    session,
    send,
    async connect(headers = { 'accept-version': '1.2', host: 'roost' }) {
      await send('CONNECT', headers);
      const connected = sink.fresh()[0];
      if (!connected || connected.command !== 'CONNECTED') throw new Error(`not connected: ${JSON.stringify(connected)}`);
      return connected;
    },
  };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function expectError(t: Setup, messagePart?: RegExp): StompFrame {
  const error = t.sink.frames.find((f) => f.command === 'ERROR');
  expect(error, 'an ERROR frame').toBeDefined();
  const e = error as StompFrame;
  expect(header(e, 'content-type')).toBe('text/plain');
  if (messagePart) expect(`${header(e, 'message')}\n${e.body.toString()}`).toMatch(messagePart);
  expect(t.sink.closed).toBe(true);
  expect(t.session.state).toBe('closed');
  // The close comes after the ERROR.
  expect(t.sink.outputs.at(-1)?.kind).toBe('close');
  return e;
}

function publishMqtt(router: Router, topic: string, payload: string | Buffer, extra: Partial<Message> = {}): Promise<void> {
  const message: Message = { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, ...extra };
  return new Promise((resolve, reject) => router.publish(message, (err) => (err ? reject(err) : resolve())));
}

// ------------------------------------------------------------------ tests

describe('StompSession: CONNECT and version negotiation', () => {
  it('answers CONNECTED with the highest common version, server, session and heart-beat', async () => {
    const t = setup({ server: 'roost/9.9.9', heartbeatSendMs: 4000, heartbeatReceiveMs: 6000 });
    const connected = await t.connect({ 'accept-version': '1.0,1.1,1.2', host: 'x' });
    expect(header(connected, 'version')).toBe('1.2');
    expect(header(connected, 'server')).toBe('roost/9.9.9');
    expect(header(connected, 'session')).toBe('S1');
    expect(header(connected, 'heart-beat')).toBe('4000,6000');
    expect(t.session.state).toBe('connected');
    expect(t.session.version).toBe('1.2');
    await t.session.close('test');
  });

  it('takes a CONNECT without accept-version as STOMP 1.0, with no heart-beat header', async () => {
    const t = setup({ heartbeatSendMs: 1000, heartbeatReceiveMs: 1000 });
    const connected = await t.connect({});
    expect(header(connected, 'version')).toBe('1.0');
    expect(header(connected, 'heart-beat')).toBeUndefined();
    expect(t.clock.pending).toBe(0);
    await t.session.close('test');
  });

  it('negotiates 1.1 when that is the best the client offers, and accepts the STOMP command', async () => {
    const t = setup();
    await t.send('STOMP', { 'accept-version': '1.0,1.1', host: 'x' });
    expect(header(t.sink.frames[0] as StompFrame, 'version')).toBe('1.1');
    await t.session.close('test');
  });

  it('accepts a CONNECT without host (lenient, documented)', async () => {
    const t = setup();
    const connected = await t.connect({ 'accept-version': '1.2' });
    expect(header(connected, 'version')).toBe('1.2');
    await t.session.close('test');
  });

  it('answers an unsupported version with ERROR carrying the supported versions, then closes', async () => {
    const t = setup();
    await t.send('CONNECT', { 'accept-version': '2.0,3.1', host: 'x' });
    const error = expectError(t, /version/);
    expect(header(error, 'version')).toBe('1.0,1.1,1.2');
  });

  it('only offers the configured versions', async () => {
    const t = setup({ versions: ['1.2'] });
    await t.send('CONNECT', { 'accept-version': '1.0,1.1' });
    expect(header(expectError(t), 'version')).toBe('1.2');
  });

  it('passes login and passcode to the auth hook and refuses with ERROR when it says no', async () => {
    const seen: Array<[string | undefined, string | undefined]> = [];
    const t = setup({}, {
      authenticate: async (login, passcode) => {
        seen.push([login, passcode]);
        return passcode === 'right';
      },
    });
    await t.send('CONNECT', { 'accept-version': '1.2', login: 'ann', passcode: 'wrong' });
    expect(seen).toEqual([['ann', 'wrong']]);
    const error = expectError(t, /access refused/);
    // The passcode is never echoed.
    expect(error.body.toString()).not.toContain('wrong');
  });

  it('connects when the auth hook accepts', async () => {
    const t = setup({}, { authenticate: (login) => login === 'ann' });
    await t.connect({ 'accept-version': '1.2', login: 'ann', passcode: 'x' });
    await t.session.close('test');
  });

  it('passes the client-id to the auth hook and enforces the access it grants', async () => {
    const seen: Array<string | undefined> = [];
    const access = {
      canPublish: (topic: string) => topic.startsWith('ann/'),
      canSubscribe: (filter: string) => filter === 'ann/#',
      canProduce: (queue: string) => queue === 'orders',
      canConsume: () => false,
    };
    const make = (): Setup =>
      setup({}, {
        authenticate: (_login, _passcode, connect) => {
          seen.push(connect.clientId);
          return access;
        },
      });
    const allowed = make();
    await allowed.connect({ 'accept-version': '1.2', login: 'ann', 'client-id': 'c-7' });
    expect(seen).toEqual(['c-7']);
    await allowed.send('SEND', { destination: '/topic/ann/x', receipt: 'r1' }, 'ok');
    await allowed.send('SEND', { destination: '/queue/orders', receipt: 'r2' }, 'ok');
    await allowed.send('SUBSCRIBE', { id: 's', destination: '/topic/ann/#', receipt: 'r3' });
    expect(allowed.sink.fresh().map((f) => header(f, 'receipt-id'))).toEqual(['r1', 'r2', 'r3']);
    await allowed.session.close('test');

    for (const [command, headers] of [
      ['SEND', { destination: '/topic/bob/x' }],
      ['SEND', { destination: '/queue/payroll' }],
      ['SUBSCRIBE', { id: 's', destination: '/topic/#' }],
      ['SUBSCRIBE', { id: 's', destination: '/queue/orders' }],
    ] as const) {
      const t = make();
      await t.connect({ 'accept-version': '1.2', login: 'ann' });
      await t.send(command, headers, command === 'SEND' ? 'x' : '');
      const error = expectError(t, /not authorized/);
      expect(header(error, 'message')).toContain(headers.destination);
    }
  });

  it('closes a connection that sends no CONNECT within connectTimeoutMs', async () => {
    const t = setup({ connectTimeoutMs: 5000 });
    t.clock.advance(4999);
    expect(t.sink.closed).toBe(false);
    t.clock.advance(1);
    expectError(t, /CONNECT/);
    await flush();
    expect(t.clock.pending).toBe(0);
  });
});

describe('heart-beat negotiation', () => {
  it('parses the header, absent meaning 0,0', () => {
    expect(parseHeartBeat(undefined)).toEqual([0, 0]);
    expect(parseHeartBeat('1000,2000')).toEqual([1000, 2000]);
    expect(parseHeartBeat(' 5 , 0 ')).toEqual([5, 0]);
    for (const bad of ['', '1000', '1,2,3', '-1,0', 'a,b', '1.5,2', '9999999999,0']) {
      expect(() => parseHeartBeat(bad), bad).toThrow(RoostError);
    }
  });

  it('turns a direction off when either side says 0, else runs at the larger value', () => {
    expect(negotiateHeartBeat([0, 0], [10_000, 10_000])).toEqual({ sendEveryMs: 0, receiveEveryMs: 0 });
    expect(negotiateHeartBeat([4000, 6000], [5000, 0])).toEqual({ sendEveryMs: 6000, receiveEveryMs: 0 });
    expect(negotiateHeartBeat([4000, 6000], [0, 3000])).toEqual({ sendEveryMs: 0, receiveEveryMs: 4000 });
    expect(negotiateHeartBeat([1000, 1000], [10_000, 10_000])).toEqual({ sendEveryMs: 10_000, receiveEveryMs: 10_000 });
  });
});

describe('StompSession: heart-beats', () => {
  it('negotiates each direction as the larger of what one side can do and the other wants', async () => {
    const t = setup({ heartbeatSendMs: 5000, heartbeatReceiveMs: 8000 });
    await t.connect({ 'accept-version': '1.2', 'heart-beat': '0,20000' });
    // broker → client: max(5000, 20000) = 20000
    t.clock.advance(19_999);
    expect(t.sink.heartbeats).toBe(0);
    t.clock.advance(1);
    expect(t.sink.heartbeats).toBe(1);
    t.clock.advance(20_000);
    expect(t.sink.heartbeats).toBe(2);
    await t.session.close('test');
  });

  it('sends no beat while other frames keep the line busy', async () => {
    const t = setup({ heartbeatSendMs: 1000, heartbeatReceiveMs: 0 });
    await t.connect({ 'accept-version': '1.2', 'heart-beat': '0,1000' });
    for (let i = 0; i < 5; i++) {
      t.clock.advance(600);
      await t.send('SUBSCRIBE', { id: `s${i}`, destination: '/topic/x', receipt: `r${i}` });
    }
    expect(t.sink.heartbeats).toBe(0);
    t.clock.advance(1000);
    expect(t.sink.heartbeats).toBe(1);
    await t.session.close('test');
  });

  it('sends none when the client asks for none (0,0)', async () => {
    const t = setup({ heartbeatSendMs: 1000, heartbeatReceiveMs: 1000 });
    await t.connect({ 'accept-version': '1.2', 'heart-beat': '0,0' });
    expect(t.clock.pending).toBe(0);
    t.clock.advance(60_000);
    expect(t.sink.heartbeats).toBe(0);
    expect(t.sink.closed).toBe(false);
    await t.session.close('test');
  });

  it('closes with ERROR a client silent for twice the negotiated interval', async () => {
    const t = setup({ heartbeatSendMs: 0, heartbeatReceiveMs: 10_000 });
    await t.connect({ 'accept-version': '1.2', 'heart-beat': '4000,0' });
    // client → broker: max(4000, 10000) = 10000; the limit is 20000 of silence.
    t.clock.advance(15_000);
    t.session.activity();
    t.clock.advance(19_999);
    expect(t.sink.closed).toBe(false);
    t.clock.advance(1);
    expectError(t, /heart-beat/);
    await flush();
    expect(t.clock.pending).toBe(0);
  });

  it('counts received heart-beat EOLs as activity', async () => {
    const t = setup({ heartbeatSendMs: 0, heartbeatReceiveMs: 1000 });
    await t.connect({ 'accept-version': '1.1', 'heart-beat': '1000,0' });
    for (let i = 0; i < 10; i++) {
      t.clock.advance(1500);
      await t.session.receive([{ kind: 'heartbeat' }]);
    }
    expect(t.sink.closed).toBe(false);
    await t.session.close('test');
  });

  it('answers a malformed heart-beat header with ERROR', async () => {
    const t = setup();
    await t.send('CONNECT', { 'accept-version': '1.2', 'heart-beat': 'soon' });
    expectError(t, /heart-beat/);
  });

  it('clears every timer on close', async () => {
    const t = setup({ heartbeatSendMs: 1000, heartbeatReceiveMs: 1000 });
    await t.connect({ 'accept-version': '1.2', 'heart-beat': '1000,1000' });
    expect(t.clock.pending).toBe(2);
    await t.session.close('test');
    expect(t.clock.pending).toBe(0);
  });
});

describe('StompSession: protocol violations get ERROR then close', () => {
  it('a frame before CONNECT', async () => {
    const t = setup();
    await t.send('SEND', { destination: '/topic/a', receipt: 'r1' }, 'x');
    const error = expectError(t, /before CONNECT/);
    expect(header(error, 'receipt-id')).toBe('r1');
  });

  it('an unknown command', async () => {
    const t = setup();
    await t.connect();
    await t.send('PUBLISH', {});
    expectError(t, /unknown command/);
  });

  it('a server command sent by the client', async () => {
    const t = setup();
    await t.connect();
    await t.send('MESSAGE', { destination: '/topic/a' });
    expectError(t, /unknown command/);
  });

  it('a SEND without destination, with receipt-id of the failing frame', async () => {
    const t = setup();
    await t.connect();
    await t.send('SEND', { receipt: 'r-9' }, 'x');
    const error = expectError(t, /destination/);
    expect(header(error, 'receipt-id')).toBe('r-9');
  });

  it('a SUBSCRIBE without id in 1.1 and 1.2', async () => {
    for (const version of ['1.1', '1.2']) {
      const t = setup();
      await t.connect({ 'accept-version': version });
      await t.send('SUBSCRIBE', { destination: '/topic/a' });
      expectError(t, /id/);
    }
  });

  it('a body on a frame that may not carry one', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/a' }, 'surprise');
    expectError(t, /body/);
  });

  it('a body on CONNECT', async () => {
    const t = setup();
    await t.send('CONNECT', { 'accept-version': '1.2' }, 'x');
    expectError(t, /body/);
  });

  it('a bad destination', async () => {
    for (const destination of ['/exchange/x', 'plain', '/topic/a/+/b', '/queue/', '/topic/']) {
      const t = setup();
      await t.connect();
      await t.send('SEND', { destination }, 'x');
      expectError(t, /destination/);
    }
  });

  it('a bad subscription filter', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/a/#/b' });
    expectError(t, /destination/);
  });

  it('a second CONNECT', async () => {
    const t = setup();
    await t.connect();
    await t.send('CONNECT', { 'accept-version': '1.2' });
    expectError(t, /second CONNECT/);
  });

  it('a codec error, with its code summarized in the message header', async () => {
    const t = setup();
    await t.connect();
    t.session.fail(new RoostError('STOMP_FRAME_MALFORMED', 'a header line has no colon'));
    const error = expectError(t, /no colon/);
    expect(header(error, 'message')).toBe('malformed frame');
    const t2 = setup();
    t2.session.fail(new RoostError('STOMP_LIMIT_EXCEEDED', 'the frame exceeds maxFrameBytes (10)'));
    expect(header(expectError(t2), 'message')).toBe('limit exceeded');
  });

  it('an internal error is not echoed', async () => {
    const t = setup();
    await t.connect();
    t.session.fail(new Error('secret detail'));
    const error = expectError(t);
    expect(header(error, 'message')).toBe('internal error');
    expect(error.body.toString()).not.toContain('secret');
  });

  it('NACK on a 1.0 session', async () => {
    const t = setup();
    await t.connect({});
    await t.send('NACK', { 'message-id': 'x' });
    expectError(t, /NACK/);
  });

  it('an invalid ack mode', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/queue/q', ack: 'sometimes' });
    expectError(t, /ack/);
  });

  it('a duplicate subscription id', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/a' });
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/b' });
    expectError(t, /already in use/);
  });

  it('ignores frames after the ERROR', async () => {
    const t = setup();
    await t.connect();
    await t.session.receive([
      { kind: 'frame', frame: frame('BOGUS') },
      { kind: 'frame', frame: frame('SEND', { destination: '/topic/a', receipt: 'r' }, 'x') },
    ]);
    expect(t.sink.frames.map((f) => f.command)).toEqual(['CONNECTED', 'ERROR']);
  });

  it('the message header stays free of CR, LF and backslashes', async () => {
    const t = setup();
    await t.connect();
    t.session.fail(new RoostError('STOMP_PROTOCOL_VIOLATION', 'a\r\nb\\c'));
    expect(header(expectError(t), 'message')).toBe('a  b c');
  });
});

describe('StompSession: SEND, SUBSCRIBE and receipts', () => {
  it('routes a SEND to /topic through the router and answers the receipt after it is accepted', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: 'sub-1', destination: '/topic/a/+', receipt: 'r0' });
    expect(t.sink.fresh().map((f) => [f.command, header(f, 'receipt-id')])).toEqual([['RECEIPT', 'r0']]);
    await t.send('SEND', { destination: '/topic/a/b', receipt: 'r1', 'x-custom': 'v' }, 'hello');
    const [message, receipt] = t.sink.fresh();
    expect(message?.command).toBe('MESSAGE');
    expect(header(message as StompFrame, 'subscription')).toBe('sub-1');
    expect(header(message as StompFrame, 'destination')).toBe('/topic/a/b');
    expect(header(message as StompFrame, 'x-custom')).toBe('v');
    expect(header(message as StompFrame, 'content-length')).toBe('5');
    expect(header(message as StompFrame, 'roost-delivery-count')).toBe('1');
    expect(header(message as StompFrame, 'ack')).toBeUndefined();
    expect(message?.body.toString()).toBe('hello');
    expect(receipt?.command).toBe('RECEIPT');
    expect(header(receipt as StompFrame, 'receipt-id')).toBe('r1');
    await t.session.close('test');
  });

  it('delivers MQTT publishes to a /topic subscriber with destination /topic/<mqtt topic>', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/sensors/#' });
    await publishMqtt(t.router, 'sensors/kitchen/temp', Buffer.from([0, 1, 2, 255]));
    const [message] = t.sink.fresh();
    expect(header(message as StompFrame, 'destination')).toBe('/topic/sensors/kitchen/temp');
    expect(message?.body).toEqual(Buffer.from([0, 1, 2, 255]));
    await t.session.close('test');
  });

  it('maps dotted topics both ways when compatibility is on', async () => {
    const t = setup({ dottedTopics: true });
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/sensors.*.temp' });
    await t.send('SUBSCRIBE', { id: '2', destination: '/topic/sensors.>' });
    await publishMqtt(t.router, 'sensors/kitchen/temp', 'x');
    const frames = t.sink.fresh();
    expect(frames.map((f) => header(f, 'destination'))).toEqual(['/topic/sensors.kitchen.temp', '/topic/sensors.kitchen.temp']);
    await t.send('SEND', { destination: '/topic/sensors.hall.temp' }, 'y');
    expect(t.sink.fresh().map((f) => header(f, 'subscription')).sort()).toEqual(['1', '2']);
    await t.session.close('test');
  });

  it('gives each matching subscription its own MESSAGE', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: 'a', destination: '/topic/x/#' });
    await t.send('SUBSCRIBE', { id: 'b', destination: '/topic/x/y' });
    await publishMqtt(t.router, 'x/y', 'm');
    expect(t.sink.fresh().map((f) => header(f, 'subscription')).sort()).toEqual(['a', 'b']);
    await t.session.close('test');
  });

  it('stops delivering after UNSUBSCRIBE and leaves the router empty', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/a' });
    await t.send('UNSUBSCRIBE', { id: '1', receipt: 'u' });
    expect(t.router.size).toBe(0);
    await publishMqtt(t.router, 'a', 'x');
    expect(t.sink.fresh().map((f) => f.command)).toEqual(['RECEIPT']);
    await t.session.close('test');
  });

  it('1.0: SUBSCRIBE without id, UNSUBSCRIBE by destination', async () => {
    const t = setup();
    await t.connect({});
    await t.send('SUBSCRIBE', { destination: '/topic/a' });
    await publishMqtt(t.router, 'a', 'x');
    expect(header(t.sink.fresh()[0] as StompFrame, 'subscription')).toBe('/topic/a');
    await t.send('UNSUBSCRIBE', { destination: '/topic/a' });
    expect(t.router.size).toBe(0);
    await t.session.close('test');
  });

  it('SEND to /queue answers the receipt only once the enqueue has resolved', async () => {
    const t = setup();
    await t.connect();
    const queue = await t.queues.open('orders');
    let open!: () => void;
    queue.gate = new Promise((resolve) => (open = resolve));
    const sent = t.send('SEND', { destination: '/queue/orders', receipt: 'r1', persistent: 'true' }, 'o1');
    await flush();
    expect(t.sink.fresh()).toEqual([]);
    open();
    await sent;
    expect(t.sink.fresh().map((f) => [f.command, header(f, 'receipt-id')])).toEqual([['RECEIPT', 'r1']]);
    expect(queue.ready[0]?.message.qos).toBe(1);
    expect(queue.ready[0]?.message.payload.toString()).toBe('o1');
    await t.session.close('test');
  });

  it('answers a full queue with ERROR', async () => {
    const t = setup();
    await t.connect();
    const queue = await t.queues.open('tiny');
    queue.enqueue = async () => {
      throw new RoostError('QUEUE_FULL', 'queue tiny is full (1 messages)');
    };
    await t.send('SEND', { destination: '/queue/tiny' }, 'x');
    const error = expectError(t, /full/);
    expect(header(error, 'message')).toBe('queue full');
  });

  it('drops a SEND whose expires is already past, and still answers its receipt', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/a' });
    await t.send('SEND', { destination: '/topic/a', expires: String(t.clock.nowMs - 1), receipt: 'r' }, 'old');
    expect(t.sink.fresh().map((f) => f.command)).toEqual(['RECEIPT']);
    await t.session.close('test');
  });

  it('DISCONNECT with receipt: RECEIPT, then close', async () => {
    const t = setup();
    await t.connect();
    await t.send('DISCONNECT', { receipt: 'bye' });
    expect(t.sink.fresh().map((f) => [f.command, header(f, 'receipt-id')])).toEqual([['RECEIPT', 'bye']]);
    expect(t.sink.outputs.at(-1)?.kind).toBe('close');
    expect(t.session.state).toBe('closed');
  });

  it('limits subscriptions per connection', async () => {
    const t = setup({ maxSubscriptions: 2 });
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/a' });
    await t.send('SUBSCRIBE', { id: '2', destination: '/topic/b' });
    await t.send('SUBSCRIBE', { id: '3', destination: '/topic/c' });
    expectError(t, /at most 2 subscriptions/);
    await flush();
    expect(t.router.size).toBe(0);
  });
});

describe('StompSession: queue subscriptions and ack modes', () => {
  async function queueSetup(mode: string, version = '1.2', prefetch?: number) {
    const t = setup();
    await t.connect({ 'accept-version': version });
    const queue = await t.queues.open('work');
    for (let i = 1; i <= 3; i++) await queue.enqueue({ cmd: 'publish', topic: 'work', payload: Buffer.from(`m${i}`), qos: 1, retain: false });
    const headers: Record<string, string> = { id: 'w', destination: '/queue/work', ack: mode };
    if (prefetch !== undefined) headers['prefetch-count'] = String(prefetch);
    await t.send('SUBSCRIBE', headers);
    return { t, queue };
  }

  it('client-individual: prefetch bounds deliveries; ACK frees a slot; the 1.2 ack header is the ACK id', async () => {
    const { t, queue } = await queueSetup('client-individual', '1.2', 2);
    const first = t.sink.fresh();
    expect(first.map((f) => f.body.toString())).toEqual(['m1', 'm2']);
    expect(header(first[0] as StompFrame, 'destination')).toBe('/queue/work');
    const ackOf2 = header(first[1] as StompFrame, 'ack') as string;
    expect(ackOf2).toBeDefined();
    await t.send('ACK', { id: ackOf2, receipt: 'a' });
    expect(t.sink.fresh().map((f) => f.command === 'MESSAGE' ? f.body.toString() : f.command)).toEqual(['m3', 'RECEIPT']);
    expect(queue.acked).toBe(1);
    expect(queue.unacked.size).toBe(2);
    await t.session.close('test');
    // Closing gives the unacked back to the queue.
    expect(queue.ready.map((e) => e.message.payload.toString())).toEqual(['m1', 'm3']);
  });

  it('client: an ACK is cumulative over the subscription', async () => {
    const { t, queue } = await queueSetup('client');
    const frames = t.sink.fresh();
    expect(frames).toHaveLength(3);
    await t.send('ACK', { id: header(frames[1] as StompFrame, 'ack') as string });
    expect(queue.acked).toBe(2);
    expect([...queue.unacked.values()].map((u) => u.entry.message.payload.toString())).toEqual(['m3']);
    await t.session.close('test');
  });

  it('NACK redelivers through the queue, marked redelivered with its delivery count', async () => {
    const { t } = await queueSetup('client-individual', '1.2', 1);
    const [m1] = t.sink.fresh();
    await t.send('NACK', { id: header(m1 as StompFrame, 'ack') as string });
    const [again] = t.sink.fresh();
    expect(again?.body.toString()).toBe('m1');
    expect(header(again as StompFrame, 'redelivered')).toBe('true');
    expect(header(again as StompFrame, 'roost-delivery-count')).toBe('2');
    expect(header(again as StompFrame, 'message-id')).not.toBe(header(m1 as StompFrame, 'message-id'));
    await t.session.close('test');
  });

  it('1.1 acks by message-id and subscription; 1.0 by message-id', async () => {
    for (const version of ['1.1', '1.0']) {
      const { t, queue } = await queueSetup('client-individual', version, 1);
      const [m1] = t.sink.fresh();
      expect(header(m1 as StompFrame, 'ack')).toBeUndefined();
      const ack: Record<string, string> = { 'message-id': header(m1 as StompFrame, 'message-id') as string };
      if (version === '1.1') ack['subscription'] = 'w';
      await t.send('ACK', ack);
      expect(queue.acked).toBe(1);
      expect(t.sink.fresh().map((f) => f.body.toString())).toEqual(['m2']);
      await t.session.close('test');
    }
  });

  it('1.1 ACK without subscription is an error', async () => {
    const { t } = await queueSetup('client', '1.1');
    await t.send('ACK', { 'message-id': header(t.sink.fresh()[0] as StompFrame, 'message-id') as string });
    expectError(t, /subscription/);
  });

  it('ignores an ACK for an unknown id', async () => {
    const { t } = await queueSetup('client');
    await t.send('ACK', { id: 'nope', receipt: 'r' });
    expect(t.sink.fresh().map((f) => f.command)).toEqual(['MESSAGE', 'MESSAGE', 'MESSAGE', 'RECEIPT']);
    await t.session.close('test');
  });

  it('auto: acked once written; while the sink is full the acks wait, and so do further deliveries', async () => {
    const t = setup({ defaultPrefetch: 2 });
    await t.connect();
    const queue = await t.queues.open('work');
    t.sink.writable = false;
    await t.send('SUBSCRIBE', { id: 'w', destination: '/queue/work' });
    for (let i = 1; i <= 5; i++) await queue.enqueue({ cmd: 'publish', topic: 'work', payload: Buffer.from(`m${i}`), qos: 0, retain: false });
    await flush();
    expect(t.sink.fresh().map((f) => f.body.toString())).toEqual(['m1', 'm2']);
    expect(queue.acked).toBe(0);
    t.sink.writable = true;
    t.session.drained();
    await flush();
    expect(queue.acked).toBe(5);
    expect(t.sink.fresh().map((f) => f.body.toString())).toEqual(['m3', 'm4', 'm5']);
    await t.session.close('test');
  });

  it('rejects a malformed prefetch and caps a large one', async () => {
    const t = setup({ maxPrefetch: 2 });
    await t.connect();
    const queue = await t.queues.open('q');
    for (let i = 0; i < 5; i++) await queue.enqueue({ cmd: 'publish', topic: 'q', payload: Buffer.from('x'), qos: 0, retain: false });
    await t.send('SUBSCRIBE', { id: '1', destination: '/queue/q', ack: 'client', 'activemq.prefetchSize': '1000' });
    expect(t.sink.fresh()).toHaveLength(2);
    await t.send('SUBSCRIBE', { id: '2', destination: '/queue/q', ack: 'client', 'prefetch-count': '-1' });
    expectError(t, /prefetch/);
  });
});

describe('StompSession: transactions', () => {
  it('applies buffered SENDs at COMMIT, in order', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/t' });
    await t.send('BEGIN', { transaction: 'tx1' });
    await t.send('SEND', { destination: '/topic/t', transaction: 'tx1', receipt: 's1' }, 'one');
    await t.send('SEND', { destination: '/topic/t', transaction: 'tx1' }, 'two');
    expect(t.sink.fresh().map((f) => f.command)).toEqual(['RECEIPT']);
    await t.send('COMMIT', { transaction: 'tx1', receipt: 'c' });
    expect(t.sink.fresh().map((f) => (f.command === 'MESSAGE' ? f.body.toString() : f.command))).toEqual(['one', 'two', 'RECEIPT']);
    await t.session.close('test');
  });

  it('drops buffered frames at ABORT', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/t' });
    await t.send('BEGIN', { transaction: 'tx' });
    await t.send('SEND', { destination: '/topic/t', transaction: 'tx' }, 'gone');
    await t.send('ABORT', { transaction: 'tx', receipt: 'a' });
    expect(t.sink.fresh().map((f) => f.command)).toEqual(['RECEIPT']);
    // The transaction is over: committing it now is an error.
    await t.send('COMMIT', { transaction: 'tx' });
    expectError(t, /not open/);
  });

  it('applies a transactional ACK and NACK at COMMIT', async () => {
    const t = setup();
    await t.connect();
    const queue = await t.queues.open('q');
    for (const body of ['a', 'b']) await queue.enqueue({ cmd: 'publish', topic: 'q', payload: Buffer.from(body), qos: 1, retain: false });
    await t.send('SUBSCRIBE', { id: '1', destination: '/queue/q', ack: 'client-individual' });
    const [a, b] = t.sink.fresh();
    await t.send('BEGIN', { transaction: 't' });
    await t.send('ACK', { id: header(a as StompFrame, 'ack') as string, transaction: 't' });
    await t.send('NACK', { id: header(b as StompFrame, 'ack') as string, transaction: 't' });
    expect(queue.acked).toBe(0);
    await t.send('COMMIT', { transaction: 't' });
    expect(queue.acked).toBe(1);
    expect(t.sink.fresh().map((f) => [f.body.toString(), header(f, 'redelivered')])).toEqual([['b', 'true']]);
    await t.session.close('test');
  });

  it('errors on a SEND in an unknown transaction, a BEGIN of an open one and a missing transaction header', async () => {
    let t = setup();
    await t.connect();
    await t.send('SEND', { destination: '/topic/t', transaction: 'nope' }, 'x');
    expectError(t, /not open/);
    t = setup();
    await t.connect();
    await t.send('BEGIN', { transaction: 'a' });
    await t.send('BEGIN', { transaction: 'a' });
    expectError(t, /already open/);
    t = setup();
    await t.connect();
    await t.send('BEGIN', {});
    expectError(t, /transaction/);
  });

  it('bounds the frames one transaction may hold', async () => {
    const t = setup({ maxTransactionFrames: 2 });
    await t.connect();
    await t.send('BEGIN', { transaction: 't' });
    for (let i = 0; i < 3; i++) await t.send('SEND', { destination: '/topic/t', transaction: 't' }, 'x');
    expectError(t, /at most 2 frames/);
  });
});

describe('StompSession: temp queues and durable subscriptions', () => {
  it('rewrites reply-to:/temp-queue/<name> to a queue others can send to, and deletes it at close', async () => {
    const router = new Router();
    const queues = new FakeRegistry(router);
    const requester = setup({}, { id: 'REQ', router, queues });
    const responder = setup({}, { id: 'RSP', router, queues });
    await requester.connect();
    await responder.connect();
    await responder.send('SUBSCRIBE', { id: 'in', destination: '/queue/requests' });
    await requester.send('SUBSCRIBE', { id: 'replies', destination: '/temp-queue/r' });
    await requester.send('SEND', { destination: '/queue/requests', 'reply-to': '/temp-queue/r', 'correlation-id': 'c1' }, 'ping');
    const [request] = responder.sink.fresh();
    const replyTo = header(request as StompFrame, 'reply-to') as string;
    expect(replyTo).toBe('/queue/temp.REQ.r');
    expect(header(request as StompFrame, 'correlation-id')).toBe('c1');
    await responder.send('SEND', { destination: replyTo, 'correlation-id': 'c1' }, 'pong');
    const [reply] = requester.sink.fresh();
    expect(reply?.body.toString()).toBe('pong');
    expect(header(reply as StompFrame, 'destination')).toBe('/temp-queue/r');
    await requester.session.close('test');
    expect(queues.deleted).toEqual(['temp.REQ.r']);
    await responder.session.close('test');
  });

  it('keeps a durable subscription across UNSUBSCRIBE and reconnect; removes it on UNSUBSCRIBE with durable:true', async () => {
    const router = new Router();
    const queues = new FakeRegistry(router);
    const first = setup({}, { router, queues, id: 'A' });
    await first.connect({ 'accept-version': '1.2', 'client-id': 'app' });
    await first.send('SUBSCRIBE', { id: 'd', destination: '/topic/alerts/#', 'activemq.subscriptionName': 'alerts', ack: 'client' });
    expect(queues.queues.has('durable.app.alerts')).toBe(true);
    await first.send('UNSUBSCRIBE', { id: 'd' });
    await first.session.close('test');
    await publishMqtt(router, 'alerts/fire', 'while away', { qos: 1 });

    const second = setup({}, { router, queues, id: 'B' });
    await second.connect({ 'accept-version': '1.2', 'client-id': 'app' });
    await second.send('SUBSCRIBE', { id: 'd2', destination: '/topic/alerts/#', durable: 'true', 'activemq.subscriptionName': 'alerts' });
    const [message] = second.sink.fresh();
    expect(message?.body.toString()).toBe('while away');
    expect(header(message as StompFrame, 'destination')).toBe('/topic/alerts/fire');
    expect(header(message as StompFrame, 'persistent')).toBe('true');
    await second.send('UNSUBSCRIBE', { id: 'd2', durable: 'true' });
    expect(queues.deleted).toContain('durable.app.alerts');
    expect(router.size).toBe(0);
    await second.session.close('test');
  });

  it('names a durable subscription by id with durable:true, and needs a client-id or login', async () => {
    const t = setup();
    await t.connect({ 'accept-version': '1.2', login: 'ann' });
    await t.send('SUBSCRIBE', { id: 'sub', destination: '/topic/x', durable: 'true' });
    expect(t.queues.queues.has('durable.ann.sub')).toBe(true);
    await t.session.close('test');
    const anon = setup();
    await anon.connect();
    await anon.send('SUBSCRIBE', { id: 'sub', destination: '/topic/x', durable: 'true' });
    expectError(anon, /client-id/);
  });
});

describe('StompSession: close', () => {
  it('releases router targets and consumers, and is idempotent', async () => {
    const t = setup();
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/a' });
    await t.send('SUBSCRIBE', { id: '2', destination: '/queue/q', ack: 'client' });
    const queue = t.queues.queues.get('q') as FakeQueue;
    expect(queue.consumers).toHaveLength(1);
    await Promise.all([t.session.close('x'), t.session.close('y')]);
    expect(t.router.size).toBe(0);
    expect(queue.consumers).toHaveLength(0);
    expect(t.sink.outputs.filter((o) => o.kind === 'close')).toHaveLength(1);
    expect(t.session.subscriptionCount).toBe(0);
  });

  it('holds live deliveries acceptance while the sink is full, and releases it on close', async () => {
    const router = new Router({ maxPendingPerTarget: 2 });
    const t = setup({}, { router });
    await t.connect();
    await t.send('SUBSCRIBE', { id: '1', destination: '/topic/a' });
    t.sink.writable = false;
    for (let i = 0; i < 5; i++) await publishMqtt(router, 'a', `m${i}`);
    // The first write found the sink full; the router then drops QoS 0 past its pending bound.
    expect(t.sink.fresh()).toHaveLength(2);
    expect(router.stats.droppedSlow).toBe(3);
    await t.session.close('test');
  });
});
