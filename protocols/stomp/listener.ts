import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ConnectionGate } from '../../src/core/connection-gate.js';
import { RoostError } from '../../src/core/errors.js';
import type { QueueRegistry } from '../../src/core/queue.js';
import { PublishLimiter } from '../../src/core/rate-limit.js';
import type { StoreWatermark } from '../../src/core/store-limit.js';
import type { Router } from '../../src/core/router.js';
import { roostVersion } from '../../src/version.js';
import { listen } from '../shared/listen.js';
import { clientCertificateCn, type TlsContext } from '../shared/tls.js';
import { DEFAULT_STOMP_LIMITS, FrameBatch, HEARTBEAT_EOL, StompDecoder, encodeFrame, header } from './codec.js';
import type { Decoded, StompFrame, StompLimits } from './codec.js';
import { errorFrame } from './frame-rules.js';
import { DEFAULT_STOMP_SESSION_OPTIONS, StompSession } from './session.js';
import type { SessionOutput, StompAuthenticate, StompClock, StompPeer, StompSessionOptions } from './session.js';

/** Everything tunable about the STOMP listener: session options, codec limits, the write timeout. */
export interface StompListenerOptions extends StompSessionOptions, StompLimits {
  /** Time a client whose socket buffer is full has to drain it before it is disconnected, ms. */
  readonly drainTimeoutMs: number;
}

export const DEFAULT_STOMP_LISTENER_OPTIONS: StompListenerOptions = Object.freeze({
  ...DEFAULT_STOMP_SESSION_OPTIONS,
  ...DEFAULT_STOMP_LIMITS,
  server: `roost/${roostVersion()}`,
  drainTimeoutMs: 60_000,
});

export interface StompListenInit {
  /** Interface to bind. */
  readonly host: string;
  /** TCP port; 0 picks an ephemeral one (tests). */
  readonly port: number;
  readonly router: Router;
  readonly queues: QueueRegistry;
  /** Root logger; each connection logs through `log.child({ proto: 'stomp', connId })`. */
  readonly log: Logger;
  /** Defaults: `DEFAULT_STOMP_LISTENER_OPTIONS`. */
  readonly options?: Partial<StompListenerOptions>;
  /** CONNECT login/passcode check; everyone is accepted when absent. */
  readonly authenticate?: StompAuthenticate;
  /** Heart-beat and timeout clock; the process clock when absent. */
  readonly clock?: StompClock;
  /** Listen with TLS (STOMP over TLS) instead of plain TCP; the CN of a verified client certificate reaches `authenticate`. */
  readonly tls?: TlsContext;
  /** The broker-wide connection limits; every connection is admitted when absent. */
  readonly gate?: ConnectionGate;
  /** Per-connection SEND rate (docs/limits.md); none when absent. */
  readonly publishLimits?: PublishLimits | undefined;
  /** While it refuses, SENDs to a queue or with `persistent:true` are refused. */
  readonly storeWatermark?: StoreWatermark | undefined;
}

/** The SEND rate of one connection: `publishesPerSecond` sustained (0: no limit), `publishBurst` at once. */
export interface PublishLimits {
  readonly publishesPerSecond: number;
  readonly publishBurst: number;
}

/** What one connection needs, whatever it runs over. */
export interface StompAcceptInit {
  readonly router: Router;
  readonly queues: QueueRegistry;
  /** Root logger; the connection logs through `log.child({ proto: 'stomp', connId })`. */
  readonly log: Logger;
  /** Complete options, from `resolveStompListenerOptions`. */
  readonly options: StompListenerOptions;
  readonly authenticate?: StompAuthenticate | undefined;
  readonly clock?: StompClock | undefined;
  /** What the transport knows of the peer (a verified TLS client certificate's CN). */
  readonly peer?: StompPeer | undefined;
  /** Per-connection SEND rate (docs/limits.md); none when absent. */
  readonly publishLimits?: PublishLimits | undefined;
  /** While it refuses, SENDs to a queue or with `persistent:true` are refused. */
  readonly storeWatermark?: StoreWatermark | undefined;
  /**
   * True for a byte stream (TCP, TLS): what a turn sends leaves in one write.
   * Default false: each write is one frame or heart-beat, as a WebSocket
   * message must be for some STOMP clients.
   */
  readonly coalesceWrites?: boolean | undefined;
}

/** One STOMP session running over a transport. */
export interface StompConnection {
  readonly transport: Duplex;
  readonly session: StompSession;
}

// After the close is decided, a peer that neither reads its ERROR nor closes gets this long.
const CLOSE_GRACE_MS = 5_000;

/**
 * Owns the STOMP TCP server and its connections: one decoder and one
 * StompSession per socket. Reads are paused while a decoded batch is being
 * routed or stored; a socket that stops taking writes stops the session's
 * queue deliveries and, after `drainTimeoutMs`, is disconnected.
 */
export class StompListener {
  readonly #server: Server;
  readonly #connections: Set<StompConnection>;
  #stopped: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** The bound port. */
  readonly port: number;

  private constructor(server: Server, connections: Set<StompConnection>, port: number) {
    this.#server = server;
    this.#connections = connections;
    this.port = port;
  }

  /**
   * Binds the listener and resolves once it accepts connections.
   * @throws RoostError LISTEN_ADDRESS_IN_USE | LISTEN_FAILED
   * @throws RangeError when a codec limit is not a positive integer
   */
  static async listen(init: StompListenInit): Promise<StompListener> {
    const options = resolveStompListenerOptions(init.options);
    const accept: Omit<StompAcceptInit, 'peer'> = {
      router: init.router,
      queues: init.queues,
      log: init.log,
      options,
      authenticate: init.authenticate,
      clock: init.clock,
      publishLimits: init.publishLimits,
      storeWatermark: init.storeWatermark,
    };
    const connections = new Set<StompConnection>();
    const { gate } = init;
    const track = (transport: Duplex & { remoteAddress?: string | undefined }, peer: StompPeer): void => {
      if (gate !== undefined) {
        const address = transport.remoteAddress ?? '';
        const admission = gate.admit(address);
        if (!admission.ok) {
          refuseConnection(transport, admission.message);
          return;
        }
        transport.once('close', () => gate.release(address));
      }
      const connection = acceptStompConnection(transport, { ...accept, peer, coalesceWrites: true });
      connections.add(connection);
      transport.once('close', () => connections.delete(connection));
    };
    const server =
      init.tls === undefined
        ? createServer({ noDelay: true }, (socket) => track(socket, stompPeerOf(socket)))
        : init.tls.createTlsServer((socket) => track(socket, stompPeerOf(socket)));
    const address = await listen(server, init.host, init.port, init.tls === undefined ? 'STOMP' : 'STOMP over TLS');
    return new StompListener(server, connections, address.port);
  }

  /** Connections open now. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Stops accepting new connections; the open ones stay until `close()`.
   * Resolves only once every connection is gone, so callers need not await it.
   */
  stopAccepting(): Promise<void> {
    return (this.#stopped ??= new Promise((resolve) => this.#server.close(() => resolve())));
  }

  /**
   * Stops accepting, ends every session (queue consumers closed, unacked
   * deliveries back in their queues, temp queues deleted) and destroys the
   * sockets. Resolves once the sessions are cleaned up and the server is
   * closed, so the queue registry can close after it. Idempotent.
   */
  close(): Promise<void> {
    return (this.#closing ??= this.#shutdown());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(): Promise<void> {
    const stopped = this.stopAccepting();
    const sessions: Promise<void>[] = [];
    for (const { transport, session } of this.#connections) {
      sessions.push(session.close('server shutting down'));
      transport.destroy();
    }
    await Promise.allSettled(sessions);
    await stopped;
  }
}

/** Over a connection limit: an ERROR before any CONNECT is read (1.0 rules: every client reads them), then the close. */
function refuseConnection(transport: Duplex, message: string): void {
  const frame = errorFrame(new RoostError('STOMP_LIMIT_EXCEEDED', `connection refused: ${message}`), { summary: 'connection refused: limit exceeded' });
  transport.on('error', () => transport.destroy());
  transport.end(encodeFrame(frame, '1.0'));
  // Whatever the peer sent is read and dropped, so its FIN is seen and the socket closes.
  transport.resume();
  const timer = setTimeout(() => transport.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  transport.once('close', () => clearTimeout(timer));
}

/**
 * The index of the first SEND in `events` a limit refuses, with the error
 * to answer it with; undefined when every SEND passes.
 */
function firstRefusedSend(
  events: readonly Decoded[],
  limiter: PublishLimiter | undefined,
  watermark: StoreWatermark | undefined,
): { at: number; frame: StompFrame; err: RoostError } | undefined {
  for (let at = 0; at < events.length; at++) {
    const event = events[at] as Decoded;
    if (event.kind !== 'frame' || event.frame.command !== 'SEND') continue;
    const { frame } = event;
    if (limiter !== undefined && !limiter.admit()) {
      return { at, frame, err: new RoostError('STOMP_LIMIT_EXCEEDED', 'publish rate exceeded: SEND frames arrive faster than limits.publishesPerSecond allows') };
    }
    const full = watermark?.refusal;
    if (full !== undefined && (header(frame, 'destination')?.startsWith('/queue/') === true || header(frame, 'persistent') === 'true')) {
      return { at, frame, err: new RoostError('STOMP_LIMIT_EXCEEDED', `store full, persistent message refused: ${full}`) };
    }
  }
  return undefined;
}

function decoderOptions(options: StompListenerOptions) {
  return {
    maxFrameBytes: options.maxFrameBytes,
    maxHeaders: options.maxHeaders,
    maxHeaderLineBytes: options.maxHeaderLineBytes,
    maxBodyBytes: options.maxBodyBytes,
    supportedVersions: options.versions,
  };
}

/**
 * Fills in the defaults and checks the codec limits.
 * @throws RangeError when a codec limit is not a positive integer
 */
export function resolveStompListenerOptions(partial: Partial<StompListenerOptions> = {}): StompListenerOptions {
  const options: StompListenerOptions = { ...DEFAULT_STOMP_LISTENER_OPTIONS, ...partial };
  // Fails here, at start, rather than on the first connection.
  new StompDecoder(decoderOptions(options));
  return options;
}

/** Who is at the other end of `socket` (a TCP or TLS socket), as the auth layer needs it. */
export function stompPeerOf(socket: Duplex): StompPeer {
  const { remoteAddress } = socket as { remoteAddress?: string };
  const certificateCn = clientCertificateCn(socket);
  return {
    ...(certificateCn === undefined ? {} : { certificateCn }),
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  };
}

/**
 * Wires one transport (a TCP or TLS socket, a WebSocket stream: any Duplex
 * whose `write` returns false when full and which emits `drain`) to a
 * decoder and a session. Each `write` carries one whole frame or heart-beat,
 * or, with `coalesceWrites`, everything the session sent in one turn.
 * The session ends when the transport closes; destroying the transport is
 * the way to end it from outside.
 */
export function acceptStompConnection(socket: Duplex, init: StompAcceptInit): StompConnection {
  const { options } = init;
  // Unguessable: it names this connection's temp queues, which other connections may send to.
  const id = randomBytes(9).toString('base64url');
  const log = init.log.child({ proto: 'stomp', connId: id });
  const decoder = new StompDecoder(decoderOptions(options));
  const limits = init.publishLimits;
  const limiter = limits !== undefined && limits.publishesPerSecond > 0 ? new PublishLimiter(limits) : undefined;
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  let ended = false;

  const clearTimers = (): void => {
    if (drainTimer !== undefined) clearTimeout(drainTimer);
    if (graceTimer !== undefined) clearTimeout(graceTimer);
    drainTimer = graceTimer = undefined;
  };

  const end = (reason: string): void => {
    if (ended) return;
    ended = true;
    log.debug({ reason }, 'closing connection');
    // end() flushes the ERROR or RECEIPT already written; the grace bounds a peer that never reads it.
    socket.end();
    graceTimer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    graceTimer.unref();
  };

  const armDrainTimer = (): void => {
    if (drainTimer !== undefined) return;
    drainTimer = setTimeout(() => {
      drainTimer = undefined;
      log.info({ drainTimeoutMs: options.drainTimeoutMs }, 'slow consumer: socket did not drain; disconnecting');
      void session.close(`slow consumer: the socket did not drain within ${options.drainTimeoutMs} ms`);
      socket.destroy();
    }, options.drainTimeoutMs);
    drainTimer.unref();
  };

  const encodeFailed = (err: unknown, command: string): false => {
    // The session only sends encodable headers; reaching this is a bug.
    log.error({ err, command }, 'cannot encode frame');
    socket.destroy();
    return false;
  };

  // Byte streams: frames written in one turn (RECEIPTs of a group commit,
  // MESSAGEs of a dispatch pass) are encoded into one buffer and leave in one
  // write at the end of the turn.
  const batch = new FrameBatch();
  let flushQueued = false;
  /** The session was told the transport is full without a write saying so: tell it when it is not. */
  let toldFull = false;
  const flush = (): void => {
    flushQueued = false;
    if (batch.empty || ended || socket.destroyed) return;
    if (socket.write(batch.take())) {
      if (toldFull) {
        toldFull = false;
        session.drained();
      }
    } else {
      armDrainTimer();
    }
  };
  const coalesced = (output: SessionOutput & { kind: 'frame' | 'heartbeat' }): boolean => {
    if (output.kind === 'heartbeat') {
      batch.addHeartbeat();
    } else {
      try {
        batch.add(output.frame, output.version);
      } catch (err) {
        return encodeFailed(err, output.frame.command);
      }
    }
    if (!flushQueued) {
      flushQueued = true;
      process.nextTick(flush);
    }
    if (!socket.writableNeedDrain && batch.byteLength < socket.writableHighWaterMark) return true;
    toldFull = true;
    return false;
  };

  // Message transports: one write per frame; frames written in one turn still share a segment.
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  const oneByOne = (output: SessionOutput & { kind: 'frame' | 'heartbeat' }): boolean => {
    let bytes: Buffer;
    if (output.kind === 'heartbeat') {
      bytes = HEARTBEAT_EOL;
    } else {
      try {
        bytes = encodeFrame(output.frame, output.version);
      } catch (err) {
        return encodeFailed(err, output.frame.command);
      }
    }
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    const flushed = socket.write(bytes);
    if (!flushed) armDrainTimer();
    return flushed;
  };

  const write = (output: SessionOutput): boolean => {
    if (output.kind === 'close') {
      // What was sent before the close (the ERROR, the last RECEIPT) goes out first.
      flush();
      end(output.reason);
      return false;
    }
    if (ended || socket.destroyed) return false;
    return init.coalesceWrites === true ? coalesced(output) : oneByOne(output);
  };

  const session = new StompSession({
    id,
    router: init.router,
    queues: init.queues,
    sink: { send: write },
    log,
    ...(init.clock === undefined ? {} : { clock: init.clock }),
    ...(init.authenticate === undefined ? {} : { authenticate: init.authenticate }),
    ...(init.peer === undefined ? {} : { peer: init.peer }),
    options,
  });

  socket.on('drain', () => {
    if (drainTimer !== undefined) clearTimeout(drainTimer);
    drainTimer = undefined;
    toldFull = false;
    session.drained();
  });

  socket.on('data', (chunk: Buffer) => {
    // After the close is decided the rest is read and dropped, so the peer's FIN is seen.
    if (session.state === 'closed') return;
    session.activity();
    let events: Decoded[];
    try {
      events = decoder.push(chunk);
    } catch (err) {
      session.fail(err);
      return;
    }
    if (!events.some((e) => e.kind === 'frame')) return;
    const refused = firstRefusedSend(events, limiter, init.storeWatermark);
    // Backpressure: read nothing more until this batch is handled and no more
    // than MAX_PENDING_FRAMES frames await the router or the store.
    socket.pause();
    if (refused !== undefined) {
      // Frames before the refused SEND are handled first; the refusal ends the session.
      void session.receive(events.slice(0, refused.at)).then(() => {
        log.info({ reason: refused.err.message }, 'SEND refused: limit');
        session.fail(refused.err, refused.frame);
        if (!socket.destroyed) socket.resume();
      });
      return;
    }
    void session.feed(events).then(() => {
      // Heart-beats that arrived while reading was paused are still in the socket: not the client's silence.
      session.activity();
      if (!socket.destroyed) socket.resume();
    });
  });

  socket.on('error', (err) => log.debug({ reason: err.message }, 'socket error'));
  socket.once('close', () => {
    clearTimers();
    void session.close('connection closed');
  });

  return { transport: socket, session };
}
