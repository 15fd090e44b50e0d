import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ConnectionGate } from '../../src/core/connection-gate.js';
import { listen } from '../shared/listen.js';
import { UNDERLYING_SOCKET, type TlsContext } from '../shared/tls.js';
import { acceptStompConnection, stompPeerOf, type StompAcceptInit, type StompConnection } from '../stomp/listener.js';
import { chooseSubprotocol, decideUpgrade, refuseUpgrade, type UpgradePaths, type WebSocketEndpoint } from './upgrade.js';
import { WebSocketDuplex, WS_CLOSE } from './ws-duplex.js';

/** Open connections by protocol, as `/healthz` reports them. */
export interface ConnectionCounts {
  readonly mqtt: number;
  readonly stomp: number;
}

export interface HttpListenInit {
  readonly host: string;
  /** TCP port; 0 picks an ephemeral one (tests). */
  readonly port: number;
  /** Serve https and wss instead of http and ws. */
  readonly tls?: TlsContext | undefined;
  readonly mqttPath: string;
  readonly stompPath: string;
  /** Largest WebSocket message accepted, bytes; a larger one closes the connection with 1009. */
  readonly maxPayloadBytes: number;
  /** Time a WebSocket peer that stopped reading has to drain before it is closed with 1008, ms. */
  readonly drainTimeoutMs: number;
  /** The MQTT engine `/mqtt` hands streams to; without it `/mqtt` is 404. */
  readonly mqtt?: Aedes | undefined;
  /** What a STOMP session needs; without it `/stomp` is 404. */
  readonly stomp?: Omit<StompAcceptInit, 'peer'> | undefined;
  /** The broker-wide connection counts `/healthz` reports. */
  readonly counts: () => ConnectionCounts;
  /** When the broker started, for `uptimeSeconds`; ms since the epoch. */
  readonly startedAtMs: number;
  readonly log: Logger;
  /** The broker-wide connection limits; an upgrade over them is refused with 503 and Retry-After. */
  readonly gate?: ConnectionGate | undefined;
}

interface WsConnection {
  readonly endpoint: WebSocketEndpoint;
  readonly ws: WebSocket;
  readonly stream: WebSocketDuplex;
  readonly stomp?: StompConnection;
}

// Closing: a peer that does not answer our close frame gets this long.
const SHUTDOWN_GRACE_MS = 1_000;
const SHUTDOWN_REASON = 'server shutting down';

/**
 * Owns one HTTP (or HTTPS) server: WebSocket upgrades by path (`mqttPath`
 * to the MQTT engine, `stompPath` to a STOMP session), `GET /healthz`, and
 * 404 for everything else. `ws` runs without a server of its own
 * (`noServer`), so refusals are answered here on the raw socket, and
 * `close()` closes every WebSocket itself (`ws`' server close leaves them
 * connected).
 */
export class HttpListener {
  readonly #init: HttpListenInit;
  readonly #log: Logger;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #paths: UpgradePaths;
  readonly #connections = new Set<WsConnection>();
  #port = 0;
  #stopped: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(init: HttpListenInit) {
    this.#init = init;
    this.#log = init.log.child({ proto: init.tls === undefined ? 'ws' : 'wss' });
    // An endpoint without its protocol matches no request path.
    this.#paths = {
      mqttPath: init.mqtt === undefined ? '\0' : init.mqttPath,
      stompPath: init.stomp === undefined ? '\0' : init.stompPath,
    };
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => answerRequest(req, res, init);
    this.#server = init.tls === undefined ? createServer({ noDelay: true }, onRequest) : init.tls.createHttpsServer(onRequest);
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: init.maxPayloadBytes,
      handleProtocols: (offered, req) => {
        const decision = decideUpgrade(req.url, undefined, this.#paths);
        return (decision.accept && chooseSubprotocol(decision.endpoint, offered)) || false;
      },
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
  }

  /** @throws RoostError LISTEN_ADDRESS_IN_USE | LISTEN_FAILED */
  static async listen(init: HttpListenInit): Promise<HttpListener> {
    const listener = new HttpListener(init);
    const address = await listen(listener.#server, init.host, init.port, init.tls === undefined ? 'HTTP' : 'HTTPS');
    listener.#port = address.port;
    return listener;
  }

  /** The bound port. */
  get port(): number {
    return this.#port;
  }

  /** WebSocket connections open now, by endpoint. */
  get counts(): ConnectionCounts {
    let mqtt = 0;
    let stomp = 0;
    for (const { endpoint } of this.#connections) {
      if (endpoint === 'mqtt') mqtt++;
      else stomp++;
    }
    return { mqtt, stomp };
  }

  /**
   * Stops accepting connections and upgrades; the open WebSockets stay until
   * `close()`. Resolves only once every connection is gone.
   */
  stopAccepting(): Promise<void> {
    return (this.#stopped ??= new Promise((resolve) => this.#server.close(() => resolve())));
  }

  /**
   * Stops accepting; a WebSocket its protocol ends from now on closes with
   * 1001 Going Away, as the ones `close()` ends do. Lets the MQTT engine tell
   * its clients the broker is going (v5: DISCONNECT 0x8B) before `close()`.
   */
  shuttingDown(): void {
    void this.stopAccepting();
    for (const { stream } of this.#connections) stream.endWith(WS_CLOSE.goingAway, SHUTDOWN_REASON);
  }

  /**
   * Stops accepting, ends every STOMP session, closes every WebSocket with
   * 1001 (terminated when the peer does not answer within a second), then
   * the server. Idempotent.
   */
  close(): Promise<void> {
    return (this.#closing ??= this.#shutdown());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const offered = req.headers['sec-websocket-protocol'];
    const decision = decideUpgrade(req.url, Array.isArray(offered) ? offered.join(',') : offered, this.#paths);
    if (!decision.accept) {
      this.#log.debug({ status: decision.status, reason: decision.message }, 'upgrade refused');
      refuseUpgrade(socket, decision.status, decision.message);
      return;
    }
    if (this.#stopped !== undefined) {
      refuseUpgrade(socket, 503, SHUTDOWN_REASON);
      return;
    }
    const { gate } = this.#init;
    if (gate !== undefined) {
      const address = req.socket.remoteAddress ?? '';
      const admission = gate.admit(address);
      if (!admission.ok) {
        this.#log.info({ endpoint: decision.endpoint, reason: admission.reason }, 'upgrade refused: limit');
        refuseOverLimit(socket, admission.message, admission.retryAfterSeconds);
        return;
      }
      // The slot is the TCP connection's: released however the upgrade or the WebSocket ends.
      req.socket.once('close', () => gate.release(address));
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const connection = this.#open(ws, req, decision.endpoint);
      this.#connections.add(connection);
      connection.stream.once('close', () => this.#connections.delete(connection));
    });
  }

  #open(ws: WebSocket, req: IncomingMessage, endpoint: WebSocketEndpoint): WsConnection {
    const { drainTimeoutMs, mqtt, stomp } = this.#init;
    const log = this.#log;
    const stream = new WebSocketDuplex(ws, {
      frames: endpoint === 'mqtt' ? 'binary' : 'text-if-utf8',
      drainTimeoutMs,
      onSlowConsumer: () => log.info({ endpoint, drainTimeoutMs }, 'slow consumer: WebSocket did not drain; closing with 1008'),
      onError: (err) => log.debug({ endpoint, reason: err.message }, 'WebSocket error'),
    });
    // Lets the auth layer reach a TLS client certificate through aedes' `client.conn`.
    Object.defineProperty(stream, UNDERLYING_SOCKET, { value: req.socket });
    if (endpoint === 'mqtt' && mqtt !== undefined) {
      mqtt.handle(stream, req);
      return { endpoint, ws, stream };
    }
    // decideUpgrade only routes to an endpoint whose protocol is present.
    const connection = acceptStompConnection(stream, { ...(stomp as Omit<StompAcceptInit, 'peer'>), peer: stompPeerOf(req.socket) });
    return { endpoint, ws, stream, stomp: connection };
  }

  async #shutdown(): Promise<void> {
    const stopped = this.stopAccepting();
    const sessions: Promise<void>[] = [];
    const closed: Promise<void>[] = [];
    for (const { ws, stream, stomp } of this.#connections) {
      // The close code first: a session ending on its own would close with 1000.
      closed.push(closedWithin(ws, stream, SHUTDOWN_GRACE_MS));
      if (stomp !== undefined) sessions.push(stomp.session.close(SHUTDOWN_REASON));
    }
    await Promise.allSettled(sessions);
    await Promise.allSettled(closed);
    this.#wss.close();
    // Keep-alive HTTP connections (healthz pollers) would hold server.close() open.
    this.#server.closeAllConnections();
    await stopped;
  }
}

function closedWithin(ws: WebSocket, stream: WebSocketDuplex, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === ws.CLOSED) {
      resolve();
      return;
    }
    const timer = setTimeout(() => ws.terminate(), graceMs);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    stream.closeWith(WS_CLOSE.goingAway, SHUTDOWN_REASON);
  });
}

/** 503 with Retry-After: the client may try again later (RFC 9110 §10.2.3). */
function refuseOverLimit(socket: Duplex, message: string, retryAfterSeconds: number): void {
  const body = `${message}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 503 ${STATUS_CODES[503] ?? ''}\r\n` +
      'Connection: close\r\n' +
      `Retry-After: ${retryAfterSeconds}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      '\r\n' +
      body,
  );
}

/** Plain HTTP: `GET /healthz`, else 404. */
function answerRequest(req: IncomingMessage, res: ServerResponse, init: HttpListenInit): void {
  const path = req.url?.split('?')[0];
  if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
    const body = JSON.stringify({
      status: 'ok',
      uptimeSeconds: Math.floor((Date.now() - init.startedAtMs) / 1000),
      connections: init.counts(),
    });
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  const body = 'not found\n';
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
