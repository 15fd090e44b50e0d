/**
 * One STOMP connection's state machine, without sockets: decoded frames in
 * (`receive`), frames, heart-beats and the decision to close out through a
 * one-method sink, time through an injected clock. The listener owns the
 * socket; unit tests drive this directly with a fake clock.
 *
 * Every protocol violation is answered the same way (STOMP 1.2 "ERROR"): an
 * ERROR frame with a `message` header, `receipt-id` when the failing frame
 * asked for a receipt, a text/plain body with the details, then the close.
 */

import { RoostError } from '../../src/core/errors.js';
import { isExpired } from '../../src/core/message.js';
import type { Message, Origin } from '../../src/core/message.js';
import type { ConsumerHandle, DurableQueue, QueueDelivery, QueueRegistry, QueueSettings } from '../../src/core/queue.js';
import type { Accepted, RouteTarget, Router } from '../../src/core/router.js';
import { DEFAULT_TOPIC_LIMITS } from '../../src/core/topic.js';
import type { TopicLimits } from '../../src/core/topic.js';
import { AckLedger } from './acks.js';
import { messageFrame, sendToMessage } from './adapter.js';
import { SYSTEM_CLOCK } from './clock.js';
import type { StompClock } from './clock.js';
import { STOMP_VERSIONS, header, negotiateVersion } from './codec.js';
import type { Decoded, StompFrame, StompVersion } from './codec.js';
import {
  TEMP_QUEUE_NAME_PREFIX,
  durableQueueName,
  parseDestination,
  queueDestination,
  tempQueueName,
  topicDestination,
} from './destinations.js';
import type { Destination, DestinationOptions } from './destinations.js';
import { denied, errorFrame, headerInvalid, missing, noBody, required, shown, violation } from './frame-rules.js';
import type { ErrorFrameOptions } from './frame-rules.js';
import { HeartBeatTimers, negotiateHeartBeat, parseHeartBeat } from './heartbeat.js';
import type { HeartBeat } from './heartbeat.js';
import { InOrder } from './in-order.js';
import { Transactions } from './transactions.js';

export { SYSTEM_CLOCK } from './clock.js';
export type { StompClock } from './clock.js';

/** What a session sends out, in order. */
export type SessionOutput =
  /** A frame to encode under `version` (the negotiated one, or 1.0 rules before CONNECTED). */
  | { readonly kind: 'frame'; readonly frame: StompFrame; readonly version: StompVersion }
  /** One EOL (STOMP 1.2 "Heart-beating"). */
  | { readonly kind: 'heartbeat' }
  /** The session is over: flush what was sent, then close the transport. Sent once, last. */
  | { readonly kind: 'close'; readonly reason: string };

/** Where a session's output goes: one method. */
export interface StompSink {
  /**
   * Takes one output. Returns false when the transport's buffer is full: the
   * session then stops pulling queue deliveries (it holds `ack:auto` acks and
   * live-delivery acceptances) until `StompSession.drained()` is called.
   */
  send(output: SessionOutput): boolean;
}

/** What one authenticated connection may do; every check is synchronous (decisions are cached by the auth layer). */
export interface StompAccess {
  canPublish(topic: string): boolean;
  canSubscribe(filter: string): boolean;
  canProduce(queue: string): boolean;
  canConsume(queue: string): boolean;
}

/** What the transport knows about the peer, beyond the CONNECT frame. */
export interface StompPeer {
  /** CN of a verified TLS client certificate. */
  readonly certificateCn?: string;
  /** The client's IP address, for the per-address login back-off. */
  readonly remoteAddress?: string;
}

/**
 * Decides whether `login` / `passcode` of a CONNECT may connect (either may
 * be absent): false refuses, true lets it do anything, a StompAccess limits it.
 */
export type StompAuthenticate = (
  login: string | undefined,
  passcode: string | undefined,
  connect: { readonly clientId: string | undefined; readonly peer: StompPeer },
) => boolean | StompAccess | Promise<boolean | StompAccess>;

const ALLOW_ALL: StompAccess = {
  canPublish: () => true,
  canSubscribe: () => true,
  canProduce: () => true,
  canConsume: () => true,
};

/** The subset of a pino logger a session uses. */
export interface StompLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Tunables of a session; every field has a default in `DEFAULT_STOMP_SESSION_OPTIONS`. */
export interface StompSessionOptions {
  /** Versions offered in negotiation. */
  readonly versions: readonly StompVersion[];
  /** `server` header of CONNECTED. */
  readonly server: string;
  /** Smallest interval at which the broker sends heart-beats, ms; 0 never sends any. */
  readonly heartbeatSendMs: number;
  /** Interval at which the broker wants the client's heart-beats, ms; 0 wants none. */
  readonly heartbeatReceiveMs: number;
  /** Time a new connection has to send CONNECT, ms; 0 waits forever. */
  readonly connectTimeoutMs: number;
  /** Read and write `/topic/a.b.c` as MQTT `a/b/c` (see destinations.ts). */
  readonly dottedTopics: boolean;
  /** Unacknowledged queue deliveries per subscription when it names no prefetch. */
  readonly defaultPrefetch: number;
  /** Ceiling on a subscription's prefetch; a requested 0 ("unlimited") gets this. */
  readonly maxPrefetch: number;
  /** Subscriptions one connection may hold. */
  readonly maxSubscriptions: number;
  /** Transactions one connection may have open. */
  readonly maxTransactions: number;
  /** SEND, ACK and NACK frames one transaction may buffer. */
  readonly maxTransactionFrames: number;
  readonly topicLimits: TopicLimits;
  /** Longest queue name, UTF-8 bytes. */
  readonly maxQueueNameBytes: number;
}

export const DEFAULT_STOMP_SESSION_OPTIONS: StompSessionOptions = Object.freeze({
  versions: STOMP_VERSIONS,
  server: 'roost',
  heartbeatSendMs: 10_000,
  heartbeatReceiveMs: 10_000,
  connectTimeoutMs: 30_000,
  dottedTopics: false,
  defaultPrefetch: 100,
  maxPrefetch: 10_000,
  maxSubscriptions: 1_000,
  maxTransactions: 16,
  maxTransactionFrames: 10_000,
  topicLimits: DEFAULT_TOPIC_LIMITS,
  maxQueueNameBytes: 255,
});

export interface StompSessionInit {
  /** Unique and hard to guess: the CONNECTED `session` header, and part of temp queue names. */
  readonly id: string;
  readonly router: Router;
  readonly queues: QueueRegistry;
  readonly sink: StompSink;
  readonly log: StompLog;
  readonly clock?: StompClock;
  /** Accepts everyone when absent. */
  readonly authenticate?: StompAuthenticate;
  /** What the transport knows of the peer (a TLS client certificate's CN). */
  readonly peer?: StompPeer;
  readonly options?: Partial<StompSessionOptions>;
}

export type AckMode = 'auto' | 'client' | 'client-individual';

export type SessionState = 'connecting' | 'connected' | 'closed';

interface Subscription {
  readonly id: string;
  /** The destination header as the client gave it. */
  readonly destination: string;
  readonly parsed: Destination;
  readonly mode: AckMode;
  readonly prefetch: number;
  /** Live topic subscription: its router target. */
  target?: RouteTarget;
  /** Queue-backed subscription: the queue and the consumer on it. */
  queue?: string;
  handle?: ConsumerHandle;
  /** Durable topic subscription: its name and the filter its queue is bound to. */
  durableName?: string;
  /** `ack:auto` deliveries written while the sink was full, or before the handle existed. */
  readonly heldAcks: string[];
  closed: boolean;
}

type Buffered =
  | { readonly kind: 'send'; readonly frame: StompFrame; readonly destination: Destination }
  | { readonly kind: 'ack'; readonly ackId: string; readonly nack: boolean };

const ACK_MODES: readonly AckMode[] = ['auto', 'client', 'client-individual'];
/** SEND destinations a session keeps parsed. */
const MAX_CACHED_DESTINATIONS = 64;
/** `client` acks are cumulative, `client-individual` ones are not (STOMP 1.2 "SUBSCRIBE ack Header"). */
const isCumulative = (sub: Subscription): boolean => sub.mode === 'client';
/**
 * Frames (SEND, ACK, NACK) a connection may have awaiting acceptance while
 * its transport keeps reading (`feed`); past either bound reading pauses.
 * Enough for a producer's whole window to share one group commit.
 */
export const MAX_PENDING_FRAMES = 1_000;
/** Body bytes of the SENDs awaiting acceptance past which reading pauses. */
export const MAX_PENDING_BYTES = 1_048_576;
const DIGITS = /^[0-9]{1,9}$/;

/**
 * One STOMP 1.0/1.1/1.2 session. Call `receive` with what the decoder
 * produced (calls are serialized), `activity` on every chunk read (heart-beat
 * accounting), `drained` when the transport can take more, `fail` when the
 * decoder throws, and `close` when the transport closed. The session sends a
 * `close` output when it decides to end; `close()` is idempotent and releases
 * everything: timers, router targets, queue consumers (unacked deliveries go
 * back), open transactions, temp queues.
 */
export class StompSession {
  readonly id: string;
  readonly #router: Router;
  readonly #queues: QueueRegistry;
  readonly #sink: StompSink;
  readonly #log: StompLog;
  readonly #clock: StompClock;
  readonly #authenticate: StompAuthenticate | undefined;
  readonly #peer: StompPeer;
  /** Everything until CONNECT is authenticated; then what the auth hook granted. */
  #access: StompAccess = ALLOW_ALL;
  readonly #options: StompSessionOptions;
  readonly #destinations: DestinationOptions;

  #state: SessionState = 'connecting';
  #version: StompVersion | undefined;
  #clientId: string | undefined;
  #login: string | undefined;
  #closing: Promise<void> | undefined;
  #work: Promise<void> = Promise.resolve();
  /** Frames whose effect is on its way, in arrival order: receipts are written as they clear. */
  readonly #pending = new InOrder<StompFrame>({
    released: (frame) => this.#writeReceipt(frame),
    failed: (err, frame) => this.#fail(err, frame),
  });
  /** `origin` of every message this session sends; set by CONNECT. */
  #origin: Origin = { protocol: 'stomp' };
  /** SEND destinations parsed so far (most producers use a handful). */
  readonly #sendDestinations = new Map<string, Destination>();

  readonly #subscriptions = new Map<string, Subscription>();
  /** Client-ack deliveries awaiting ACK or NACK. */
  readonly #acks = new AckLedger<Subscription>(isCumulative);
  readonly #transactions: Transactions<Buffered>;
  /** Queue opens in progress, by name. */
  readonly #opening = new Map<string, Promise<DurableQueue>>();
  readonly #tempQueues = new Set<string>();
  #messageSeq = 0;

  #writable = true;
  readonly #heldAccepted: Accepted[] = [];

  #connectTimer: unknown;
  #heartBeats: HeartBeatTimers | undefined;

  constructor(init: StompSessionInit) {
    this.id = init.id;
    this.#router = init.router;
    this.#queues = init.queues;
    this.#sink = init.sink;
    this.#log = init.log;
    this.#clock = init.clock ?? SYSTEM_CLOCK;
    this.#authenticate = init.authenticate;
    this.#peer = init.peer ?? {};
    this.#options = { ...DEFAULT_STOMP_SESSION_OPTIONS, ...init.options };
    this.#transactions = new Transactions(this.#options);
    this.#destinations = {
      dottedTopics: this.#options.dottedTopics,
      topicLimits: this.#options.topicLimits,
      maxQueueNameBytes: this.#options.maxQueueNameBytes,
    };
    if (this.#options.connectTimeoutMs > 0) {
      this.#connectTimer = this.#clock.setTimeout(() => {
        this.#connectTimer = undefined;
        this.#fail(new RoostError('STOMP_PROTOCOL_VIOLATION', `no CONNECT frame within ${this.#options.connectTimeoutMs} ms`));
      }, this.#options.connectTimeoutMs);
    }
  }

  get state(): SessionState {
    return this.#state;
  }

  /** The negotiated version; undefined before CONNECTED. */
  get version(): StompVersion | undefined {
    return this.#version;
  }

  /** Live subscriptions, for tests and metrics. */
  get subscriptionCount(): number {
    return this.#subscriptions.size;
  }

  /** Bytes arrived from the client (a frame, part of one, or a heart-beat). */
  activity(): void {
    this.#heartBeats?.received();
  }

  /**
   * Handles decoded events in order. Calls are serialized: a batch starts once
   * the previous one is handled. Resolves once every frame is handled and
   * every SEND, ACK and NACK so far is accepted (routed, or durable for
   * queues). Never rejects: failures become an ERROR frame and the close.
   */
  receive(events: readonly Decoded[]): Promise<void> {
    return this.#enqueueWork(events).then(() => this.#pending.idle());
  }

  /**
   * Like `receive`, for a transport that keeps reading while earlier frames
   * are being stored, so that they share a group commit: resolves once the
   * events are handled and no more than `MAX_PENDING_FRAMES` frames (and
   * `MAX_PENDING_BYTES` of SEND bodies) await acceptance. A transport that
   * reads nothing more until then applies backpressure. Never rejects.
   */
  feed(events: readonly Decoded[]): Promise<void> {
    return this.#enqueueWork(events).then(() => this.#pending.below(MAX_PENDING_FRAMES, MAX_PENDING_BYTES));
  }

  #enqueueWork(events: readonly Decoded[]): Promise<void> {
    this.activity();
    const run = this.#work.then(() => this.#receiveAll(events));
    this.#work = run.catch((err: unknown) => this.#fail(err));
    return this.#work;
  }

  /**
   * Ends the session with an ERROR for `err` (a RoostError from the decoder,
   * usually). Anything that is not a RoostError is logged and answered with a
   * generic internal error. With `frame`, the ERROR names it (and its receipt).
   */
  fail(err: unknown, frame?: StompFrame): void {
    this.#fail(err, frame);
  }

  /** The transport can take more: send what was held back while it was full. */
  drained(): void {
    if (this.#state === 'closed') return;
    this.#writable = true;
    for (const accepted of this.#heldAccepted.splice(0)) accepted();
    for (const sub of this.#subscriptions.values()) this.#releaseHeldAcks(sub);
  }

  /**
   * Ends the session: sends the `close` output (once), clears every timer,
   * drops open transactions, removes live subscriptions from the router,
   * closes queue consumers (their unacknowledged deliveries go back to the
   * queue) and deletes this session's temp queues. Idempotent.
   */
  close(reason: string): Promise<void> {
    return (this.#closing ??= this.#shutdown(reason));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close('disposed');
  }

  // ------------------------------------------------------------------ input

  async #receiveAll(events: readonly Decoded[]): Promise<void> {
    for (const event of events) {
      if (this.#state === 'closed') return;
      if (event.kind === 'heartbeat') continue;
      try {
        // SEND, ACK and NACK are handled in this turn; only what must wait (CONNECT, a receipt) is awaited.
        const handling = this.#handle(event.frame);
        if (handling !== undefined) await handling;
      } catch (err) {
        this.#fail(err, event.frame);
        return;
      }
    }
  }

  /** Handles one frame; a promise when the next frame must wait for it. */
  #handle(frame: StompFrame): Promise<void> | undefined {
    const { command } = frame;
    this.#log.debug({ command }, 'frame');
    if (this.#state === 'connecting') {
      if (command !== 'CONNECT' && command !== 'STOMP') throw violation(`${shown(command)} frame before CONNECT`);
      noBody(frame);
      return this.#connect(frame);
    }
    switch (command) {
      case 'SEND':
        return this.#onSend(frame);
      case 'ACK':
        noBody(frame);
        return this.#onAck(frame, false);
      case 'NACK':
        // STOMP 1.1 "NACK": the frame does not exist in 1.0.
        if (this.#version === '1.0') throw violation('NACK is not a STOMP 1.0 command');
        noBody(frame);
        return this.#onAck(frame, true);
      default:
        return this.#handleOther(frame);
    }
  }

  async #handleOther(frame: StompFrame): Promise<void> {
    const { command } = frame;
    switch (command) {
      case 'SUBSCRIBE':
        noBody(frame);
        await this.#onSubscribe(frame);
        break;
      case 'UNSUBSCRIBE':
        noBody(frame);
        await this.#onUnsubscribe(frame);
        break;
      case 'BEGIN':
        noBody(frame);
        this.#transactions.begin(required(frame, 'transaction'));
        break;
      case 'COMMIT':
        noBody(frame);
        await this.#onCommit(frame);
        break;
      case 'ABORT':
        noBody(frame);
        this.#transactions.abort(required(frame, 'transaction'));
        break;
      case 'DISCONNECT':
        noBody(frame);
        await this.#onDisconnect(frame);
        return;
      case 'CONNECT':
      case 'STOMP':
        throw violation('a second CONNECT on a connected session');
      default:
        throw violation(`unknown command ${shown(command)}`);
    }
    await this.#receipt(frame);
  }

  // ------------------------------------------------------------- CONNECT

  async #connect(frame: StompFrame): Promise<void> {
    const offered = header(frame, 'accept-version');
    // STOMP 1.2 "Protocol Negotiation": no accept-version means 1.0.
    const version = negotiateVersion(offered, this.#options.versions);
    if (version === undefined) {
      this.#sendError(
        new RoostError('STOMP_PROTOCOL_VIOLATION', `none of the versions offered (${offered ?? '1.0'}) is supported; this server speaks ${this.#options.versions.join(', ')}`),
        // STOMP 1.2 "Protocol Negotiation": the ERROR lists the versions the server supports.
        { failed: frame, extra: [['version', this.#options.versions.join(',')]], summary: 'unsupported STOMP version' },
      );
      await this.close('no common STOMP version');
      return;
    }
    // STOMP 1.2 requires `host`; it is accepted missing, as 1.0 clients and
    // many 1.1 clients omit it (docs/stomp.md). Roost has no virtual hosts.
    // STOMP 1.0 has no heart-beating.
    const clientBeats: HeartBeat = version === '1.0' ? [0, 0] : parseHeartBeat(header(frame, 'heart-beat'));
    const login = header(frame, 'login');
    const passcode = header(frame, 'passcode');
    const clientId = header(frame, 'client-id');
    const granted = this.#authenticate === undefined ? true : await this.#authenticate(login, passcode, { clientId, peer: this.#peer });
    if (this.#state === 'closed') return;
    if (granted === false) {
      throw new RoostError('STOMP_AUTH_FAILED', 'the login and passcode were not accepted');
    }
    this.#access = granted === true ? ALLOW_ALL : granted;

    this.#version = version;
    this.#login = login;
    this.#clientId = clientId;
    this.#origin = { protocol: 'stomp', clientId: clientId ?? this.id, ...(login === undefined ? {} : { user: login }) };
    this.#state = 'connected';
    this.#clearConnectTimer();

    const headers: Array<readonly [string, string]> = [
      ['version', version],
      ['server', this.#options.server],
      ['session', this.id],
    ];
    const serverBeats: HeartBeat = [this.#options.heartbeatSendMs, this.#options.heartbeatReceiveMs];
    if (version !== '1.0') headers.push(['heart-beat', `${serverBeats[0]},${serverBeats[1]}`]);
    const intervals = negotiateHeartBeat(clientBeats, serverBeats);
    this.#write({ kind: 'frame', frame: { command: 'CONNECTED', headers, body: EMPTY }, version });
    this.#log.info(
      { version, login, clientId: this.#clientId, heartbeat: [intervals.sendEveryMs, intervals.receiveEveryMs] },
      'connected',
    );
    if (intervals.sendEveryMs > 0 || intervals.receiveEveryMs > 0) {
      this.#heartBeats = new HeartBeatTimers(this.#clock, intervals, {
        beat: () => {
          if (!this.#writable || this.#state === 'closed') return false;
          this.#write({ kind: 'heartbeat' });
          return true;
        },
        timeout: (silentMs) => {
          this.#fail(
            new RoostError('STOMP_HEARTBEAT_TIMEOUT', `nothing received from the client for ${silentMs} ms (heart-beat ${intervals.receiveEveryMs} ms)`),
          );
        },
      });
    }
  }

  // ---------------------------------------------------------------- SEND

  #onSend(frame: StompFrame): Promise<void> | undefined {
    const destinationText = required(frame, 'destination');
    const destination = this.#sendDestination(destinationText);
    // Checked on arrival, also inside a transaction: a COMMIT cannot fail half-way on a denial.
    const allowed =
      destination.kind === 'topic'
        ? this.#access.canPublish(destination.topic)
        : destination.kind === 'queue'
          ? this.#access.canProduce(destination.queue)
          : true; // a connection's own temp queues are its own
    if (!allowed) throw denied('send to', destinationText);
    const txId = header(frame, 'transaction');
    if (txId !== undefined) {
      this.#transactions.add(txId, { kind: 'send', frame, destination });
      return this.#receipt(frame);
    }
    // Not awaited: SENDs are routed without a round trip each, and their store
    // writes share a group commit. The RECEIPT follows this SEND's acceptance
    // and every earlier frame's, so receipts come out in frame order.
    this.#track(this.#send(frame, destination), frame, frame.body.length);
    return undefined;
  }

  #sendDestination(text: string): Destination {
    let destination = this.#sendDestinations.get(text);
    if (destination === undefined) {
      destination = parseDestination(text, 'send', this.#destinations);
      // Bounded: a producer naming a new destination each time only costs the parse.
      if (this.#sendDestinations.size >= MAX_CACHED_DESTINATIONS) this.#sendDestinations.clear();
      this.#sendDestinations.set(text, destination);
    }
    return destination;
  }

  /**
   * Routes or enqueues one SEND; resolves once it is accepted. Nothing is
   * awaited before the message is handed on, so SENDs reach the router, and
   * each queue, in the order they arrived.
   * @throws RoostError when the frame's headers are invalid (`expires`, `reply-to`)
   */
  #send(frame: StompFrame, destination: Destination): Promise<void> {
    const topic =
      destination.kind === 'topic'
        ? destination.topic
        : destination.kind === 'queue'
          ? destination.queue
          : tempQueueName(this.id, destination.name);
    const nowMs = this.#clock.now();
    const message = sendToMessage(frame, {
      topic,
      nowMs,
      origin: this.#origin,
      destinations: this.#destinations,
      sessionId: this.id,
    });
    const replyTo = message.properties?.responseTopic === undefined ? undefined : header(frame, 'reply-to');
    if (replyTo !== undefined) {
      const parsed = parseDestination(replyTo, 'send', this.#destinations);
      // Replies need somewhere to land even before this session subscribes to it.
      // Its failure ends the session naming the SEND; the SEND's own slot answers the receipt.
      if (parsed.kind === 'temp-queue') this.#pending.add(this.#openTemp(parsed.name), frame, false);
    }
    // An `expires` already past: accepted, and dropped as the expiry says.
    if (isExpired(message, nowMs)) return Promise.resolve();
    switch (destination.kind) {
      case 'topic':
        return publish(this.#router, message);
      case 'queue': {
        const name = destination.queue;
        // While an open is in progress earlier SENDs wait on it, and so does this one, to stay in order.
        const open = this.#opening.has(name) ? undefined : this.#queues.opened?.(name);
        return open !== undefined ? open.enqueue(message) : this.#openQueue(name).then((queue) => queue.enqueue(message));
      }
      case 'temp-queue':
        return this.#openTemp(destination.name).then((queue) => queue.enqueue(message));
    }
  }

  // ----------------------------------------------------------- SUBSCRIBE

  async #onSubscribe(frame: StompFrame): Promise<void> {
    const destinationText = required(frame, 'destination');
    const explicitId = header(frame, 'id');
    // STOMP 1.1 "SUBSCRIBE": id is required; 1.0 made it optional, and the destination names the subscription.
    if (explicitId === undefined && this.#version !== '1.0') throw missing('id', frame);
    const id = explicitId ?? destinationText;
    if (this.#subscriptions.has(id)) throw violation(`subscription id ${JSON.stringify(id)} is already in use on this connection`);
    if (this.#subscriptions.size >= this.#options.maxSubscriptions) {
      throw new RoostError('STOMP_LIMIT_EXCEEDED', `a connection may hold at most ${this.#options.maxSubscriptions} subscriptions`);
    }
    const modeText = header(frame, 'ack') ?? 'auto';
    const mode = ACK_MODES.find((m) => m === modeText);
    if (mode === undefined) throw headerInvalid(`ack ${JSON.stringify(modeText.slice(0, 40))} is not auto, client or client-individual`);
    const prefetch = this.#prefetchOf(frame);
    const parsed = parseDestination(destinationText, 'subscribe', this.#destinations);
    const allowed =
      parsed.kind === 'topic' ? this.#access.canSubscribe(parsed.topic) : parsed.kind === 'queue' ? this.#access.canConsume(parsed.queue) : true;
    if (!allowed) throw denied('subscribe to', destinationText);

    const durableName = header(frame, 'activemq.subscriptionName') ?? (header(frame, 'durable') === 'true' ? explicitId : undefined);
    if (header(frame, 'durable') === 'true' && durableName === undefined) {
      throw missing('id', frame, 'a durable subscription is named by its id');
    }

    const sub: Subscription = {
      id,
      destination: destinationText,
      parsed,
      mode,
      prefetch,
      heldAcks: [],
      closed: false,
    };
    this.#subscriptions.set(id, sub);
    try {
      switch (parsed.kind) {
        case 'topic':
          if (durableName !== undefined) {
            await this.#subscribeDurable(sub, parsed.topic, durableName);
          } else {
            sub.target = {
              deliver: (message, accepted) => this.#onLive(sub, message, accepted),
              // The router's `disconnect` slow-consumer policy (docs/limits.md): ERROR, then the close.
              disconnect: (reason) => {
                if (this.#state === 'closed') return;
                this.#sendError(new RoostError('STOMP_LIMIT_EXCEEDED', `slow consumer: ${reason}`), { summary: 'slow consumer' });
                void this.close(`slow consumer: ${reason}`);
              },
              consumer: { proto: 'stomp', connId: this.id, subscription: id },
            };
            this.#router.subscribe(parsed.topic, sub.target);
          }
          break;
        case 'queue':
          await this.#consume(sub, parsed.queue, this.#openQueue(parsed.queue));
          break;
        case 'temp-queue':
          await this.#consume(sub, tempQueueName(this.id, parsed.name), this.#openTemp(parsed.name));
          break;
      }
    } catch (err) {
      this.#subscriptions.delete(id);
      throw err;
    }
  }

  async #subscribeDurable(sub: Subscription, filter: string, name: string): Promise<void> {
    const owner = this.#clientId ?? this.#login;
    if (owner === undefined) {
      throw violation('a durable subscription needs a client-id (or login) header on CONNECT to be found again');
    }
    const queue = durableQueueName(owner, name);
    // The queue name must itself be a valid destination, so the admin and DLQ tools can reach it.
    parseDestination(queueDestination(queue), 'send', this.#destinations);
    sub.durableName = name;
    const opened = this.#openQueue(queue, { durable: true });
    await opened;
    await this.#queues.bind(queue, filter, { persistent: true });
    await this.#consume(sub, queue, opened);
  }

  async #consume(sub: Subscription, queueName: string, queue: Promise<DurableQueue>): Promise<void> {
    const opened = await queue;
    sub.queue = queueName;
    if (sub.closed) return;
    sub.handle = opened.consume({
      // Flow control (docs/stomp.md): `ack:auto` is acknowledged by the session once the
      // frame is written, so a full socket stops deliveries at this window too.
      prefetch: sub.prefetch,
      autoAck: false,
      deliver: (delivery) => this.#onQueueDelivery(sub, delivery),
    });
    if (sub.closed) {
      await sub.handle.close();
      return;
    }
    this.#releaseHeldAcks(sub);
  }

  #prefetchOf(frame: StompFrame): number {
    const text = header(frame, 'prefetch-count') ?? header(frame, 'activemq.prefetchSize');
    if (text === undefined) return this.#options.defaultPrefetch;
    if (!DIGITS.test(text)) throw headerInvalid(`prefetch ${JSON.stringify(text.slice(0, 40))} is not a non-negative integer`);
    const asked = Number(text);
    // RabbitMQ: prefetch-count 0 means unlimited; Roost's ceiling still applies.
    return asked === 0 ? this.#options.maxPrefetch : Math.min(asked, this.#options.maxPrefetch);
  }

  // --------------------------------------------------------- UNSUBSCRIBE

  async #onUnsubscribe(frame: StompFrame): Promise<void> {
    const explicitId = header(frame, 'id');
    let sub: Subscription | undefined;
    if (explicitId !== undefined) {
      sub = this.#subscriptions.get(explicitId);
    } else if (this.#version === '1.0') {
      // STOMP 1.0 "UNSUBSCRIBE": by id or by destination.
      sub = this.#subscriptions.get(required(frame, 'destination'));
    } else {
      throw missing('id', frame);
    }
    // Unsubscribing what is not subscribed changes nothing; it is not worth closing the connection.
    if (sub === undefined) return;
    const remove =
      sub.durableName !== undefined &&
      (header(frame, 'activemq.subscriptionName') !== undefined || header(frame, 'durable') === 'true');
    await this.#closeSubscription(sub, true, remove);
  }

  async #closeSubscription(sub: Subscription, orderly: boolean, remove: boolean): Promise<void> {
    if (sub.closed) return;
    sub.closed = true;
    this.#subscriptions.delete(sub.id);
    this.#acks.forget(sub);
    if (sub.target !== undefined && sub.parsed.kind === 'topic') this.#router.unsubscribe(sub.parsed.topic, sub.target);
    const handle = sub.handle;
    if (handle !== undefined) {
      // On UNSUBSCRIBE the frames held for a full socket are on their way; on a dead connection they are not.
      if (orderly) await Promise.all(sub.heldAcks.splice(0).map((id) => handle.ack(id)));
      await handle.close();
    }
    if (remove && sub.queue !== undefined && sub.parsed.kind === 'topic') {
      await this.#queues.unbind(sub.queue, sub.parsed.topic);
      await this.#queues.delete(sub.queue);
    }
  }

  // ------------------------------------------------------------- delivery

  #onLive(sub: Subscription, message: Message, accepted: Accepted): void {
    if (sub.closed || this.#state === 'closed' || isExpired(message, this.#clock.now())) {
      accepted();
      return;
    }
    const messageId = this.#nextMessageId();
    this.#deliver(sub, message, messageId, false, 1);
    // A live topic has nothing to redeliver from: ACK and NACK on it are accepted and change nothing.
    if (this.#writable) accepted();
    else this.#heldAccepted.push(accepted);
  }

  #onQueueDelivery(sub: Subscription, delivery: QueueDelivery): void {
    // A closed consumer's deliveries go back to the queue when its handle closes.
    if (sub.closed || this.#state === 'closed') return;
    const messageId = this.#nextMessageId();
    if (sub.mode !== 'auto') this.#acks.record(sub, messageId, delivery.deliveryId);
    this.#deliver(sub, delivery.message, messageId, delivery.redelivered, delivery.deliveryCount);
    if (sub.mode === 'auto') {
      sub.heldAcks.push(delivery.deliveryId);
      this.#releaseHeldAcks(sub);
    }
  }

  #deliver(sub: Subscription, message: Message, messageId: string, redelivered: boolean, deliveryCount: number): void {
    const version = this.#version ?? '1.2';
    const frame = messageFrame(message, {
      version,
      subscription: sub.id,
      messageId,
      destination: sub.parsed.kind === 'topic' ? topicDestination(message.topic, this.#options.dottedTopics) : sub.destination,
      ack: sub.mode === 'auto' ? undefined : messageId,
      redelivered,
      deliveryCount,
      dottedTopics: this.#options.dottedTopics,
      nowMs: this.#clock.now(),
    });
    this.#write({ kind: 'frame', frame, version });
  }

  #releaseHeldAcks(sub: Subscription): void {
    const handle = sub.handle;
    if (!this.#writable || handle === undefined || sub.closed || sub.heldAcks.length === 0) return;
    for (const deliveryId of sub.heldAcks.splice(0)) {
      handle.ack(deliveryId).catch((err: unknown) => this.#log.error({ err }, 'auto ack failed'));
    }
  }

  #nextMessageId(): string {
    return `${this.id}-${++this.#messageSeq}`;
  }

  // ------------------------------------------------------------ ACK/NACK

  #onAck(frame: StompFrame, nack: boolean): Promise<void> | undefined {
    let ackId: string;
    if (this.#version === '1.2') {
      // STOMP 1.2 "ACK": `id` matches the `ack` header of the MESSAGE.
      ackId = required(frame, 'id');
    } else {
      ackId = required(frame, 'message-id');
      if (this.#version === '1.1') required(frame, 'subscription');
    }
    const txId = header(frame, 'transaction');
    if (txId !== undefined) {
      this.#transactions.add(txId, { kind: 'ack', ackId, nack });
      return this.#receipt(frame);
    }
    this.#track(this.#applyAck(ackId, nack), frame);
    return undefined;
  }

  /**
   * Acknowledges (or gives back) the delivery behind `ackId`; in `client` mode
   * also every earlier one of that subscription (cumulative, see acks.ts).
   * NACK is cumulative the same way. An unknown id (settled already, a live
   * topic's, or never sent) changes nothing.
   */
  #applyAck(ackId: string, nack: boolean): Promise<unknown> | undefined {
    const settled = this.#acks.settle(ackId);
    const handle = settled?.subscription.handle;
    if (settled === undefined || handle === undefined) return undefined;
    const ids = settled.deliveryIds;
    if (ids.length === 1) return nack ? handle.nack(ids[0] as string) : handle.ack(ids[0] as string);
    return Promise.all(ids.map((id) => (nack ? handle.nack(id) : handle.ack(id))));
  }

  // --------------------------------------------------------- transactions

  async #onCommit(frame: StompFrame): Promise<void> {
    // STOMP 1.2 "COMMIT": the buffered frames take effect now, in the order they arrived.
    for (const item of this.#transactions.commit(required(frame, 'transaction'))) {
      if (this.#state === 'closed') return;
      if (item.kind === 'send') await this.#send(item.frame, item.destination);
      else await this.#applyAck(item.ackId, item.nack);
    }
  }

  // ---------------------------------------------------------- DISCONNECT

  async #onDisconnect(frame: StompFrame): Promise<void> {
    // STOMP 1.2 "DISCONNECT": the receipt confirms every earlier frame was handled.
    await this.#receipt(frame);
    await this.close('client disconnected');
  }

  // -------------------------------------------------------------- output

  async #receipt(frame: StompFrame): Promise<void> {
    if (header(frame, 'receipt') === undefined) return;
    await this.#pending.idle();
    this.#writeReceipt(frame);
  }

  #writeReceipt(frame: StompFrame): void {
    const receipt = header(frame, 'receipt');
    if (receipt === undefined || this.#state === 'closed') return;
    this.#write({
      kind: 'frame',
      frame: { command: 'RECEIPT', headers: [['receipt-id', receipt]], body: EMPTY },
      version: this.#version ?? '1.0',
    });
  }

  #write(output: SessionOutput): void {
    if (this.#state === 'closed') return;
    this.#heartBeats?.sent();
    if (!this.#sink.send(output)) this.#writable = false;
  }

  /**
   * Follows `work` for `frame`: a rejection ends the session with an ERROR
   * naming the frame; a RECEIPT it asks for is written once `work` and every
   * earlier frame's work are done.
   */
  #track(work: PromiseLike<unknown> | undefined, frame: StompFrame, bytes = 0): void {
    this.#pending.add(work, frame, header(frame, 'receipt') !== undefined, bytes);
  }

  #fail(err: unknown, frame?: StompFrame): void {
    if (this.#state === 'closed') return;
    const roost = err instanceof RoostError ? err : undefined;
    if (roost === undefined) this.#log.error({ err }, 'internal error');
    this.#sendError(roost ?? new RoostError('INTERNAL', 'internal error'), frame === undefined ? {} : { failed: frame });
    void this.close(roost ? `${roost.code}: ${roost.message}` : 'internal error');
  }

  #sendError(err: RoostError, options: ErrorFrameOptions): void {
    // Before CONNECTED no version is agreed: 1.0 rules (no escaping) are what every client reads.
    this.#write({ kind: 'frame', frame: errorFrame(err, options), version: this.#version ?? '1.0' });
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer !== undefined) this.#clock.clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
  }

  // ---------------------------------------------------------- resources

  /**
   * Opens a queue. Frames waiting on the same open share it, so SENDs to one
   * queue are enqueued in SEND order; once settled the queue is asked for
   * again, since another session may have deleted it (a temp queue) meanwhile.
   */
  #openQueue(name: string, settings?: Partial<QueueSettings>): Promise<DurableQueue> {
    let queue = this.#opening.get(name);
    if (queue === undefined) {
      // A reply to a temp queue whose session is gone must not leave a durable queue behind.
      const resolved = settings ?? (name.startsWith(TEMP_QUEUE_NAME_PREFIX) ? { durable: false } : undefined);
      queue = resolved === undefined ? this.#queues.open(name) : this.#queues.open(name, resolved);
      this.#opening.set(name, queue);
      const settled = (): void => {
        if (this.#opening.get(name) === queue) this.#opening.delete(name);
      };
      queue.then(settled, settled);
    }
    return queue;
  }

  async #openTemp(name: string): Promise<DurableQueue> {
    const queueName = tempQueueName(this.id, name);
    this.#tempQueues.add(queueName);
    const opened = await this.#openQueue(queueName, { durable: false });
    // Opened as the session ended: the cleanup may have run before it existed.
    if (this.#state === 'closed') await this.#queues.delete(queueName).catch(() => undefined);
    return opened;
  }

  async #shutdown(reason: string): Promise<void> {
    const wasConnected = this.#state === 'connected';
    this.#state = 'closed';
    this.#clearConnectTimer();
    this.#heartBeats?.stop();
    this.#sink.send({ kind: 'close', reason });
    this.#transactions.clear();
    for (const accepted of this.#heldAccepted.splice(0)) accepted();
    const subs = [...this.#subscriptions.values()];
    const closing = await Promise.allSettled(subs.map((sub) => this.#closeSubscription(sub, false, false)));
    const temps = [...this.#tempQueues];
    this.#tempQueues.clear();
    const deleting = await Promise.allSettled(temps.map((name) => this.#queues.delete(name)));
    for (const result of [...closing, ...deleting]) {
      if (result.status === 'rejected') this.#log.error({ err: result.reason }, 'cleanup after close failed');
    }
    this.#acks.clear();
    if (wasConnected) this.#log.info({ reason }, 'disconnected');
    else this.#log.debug({ reason }, 'closed before CONNECTED');
  }
}

const EMPTY = Buffer.alloc(0);

function publish(router: Router, message: Message): Promise<void> {
  return new Promise((resolve, reject) => router.publish(message, (err) => (err ? reject(err) : resolve())));
}
