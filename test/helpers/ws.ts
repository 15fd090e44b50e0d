/** WebSocket and HTTP peers for the HTTP listener's tests. */
import { get, type IncomingHttpHeaders } from 'node:http';
import { connect as netConnect } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import WebSocket, { type ClientOptions, type RawData } from 'ws';

export interface RawHttpAnswer {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/**
 * Sends an upgrade request by hand and returns what the server answered
 * before closing the socket (a refusal), or the 101 head.
 */
export function rawUpgrade(port: number, path: string, subprotocols?: string, timeoutMs = 5_000): Promise<RawHttpAnswer> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body });
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      // A 101 keeps the socket open: its head is the whole answer.
      if (text.startsWith('HTTP/1.1 101') && text.includes('\r\n\r\n')) {
        socket.destroy();
        finish();
      }
    });
    socket.once('close', finish);
    socket.once('error', () => undefined);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
        (subprotocols === undefined ? '' : `Sec-WebSocket-Protocol: ${subprotocols}\r\n`) +
        '\r\n',
    );
  });
}

/** A plain GET; resolves with status, headers and body. */
export function httpGet(port: number, path: string, method = 'GET'): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, method, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.once('timeout', () => req.destroy(new Error('GET timed out')));
    req.once('error', reject);
  });
}

/** A `ws` client that records every message; `open()` resolves once the handshake is done. */
export class WsPeer {
  readonly ws: WebSocket;
  readonly messages: Array<{ data: Buffer; isBinary: boolean }> = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #waiters = new Set<() => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.messages.push({ data: Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), isBinary });
      for (const wake of this.#waiters) wake();
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(url: string, protocols: string[] = [], options: ClientOptions = {}): Promise<WsPeer> {
    const ws = new WebSocket(url, protocols, options);
    const peer = new WsPeer(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(peer));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }

  /** Waits until `count` messages arrived in total. */
  async waitFor(count: number, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`only ${this.messages.length} of ${count} WebSocket messages within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.terminate();
    await this.closed;
  }
}

/** An MQTT client over WebSocket on a bare `ws` peer, decoding what it reads. */
export class WsMqtt {
  readonly packets: Packet[] = [];
  private constructor(
    readonly peer: WsPeer,
    readonly version: 4 | 5,
  ) {
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (packet: Packet) => this.packets.push(packet));
    peer.ws.on('message', (data: Buffer) => parser.parse(data));
  }

  /** Opens `/mqtt` on `port` and completes CONNECT/CONNACK (clean session, no keepalive). */
  static async connected(port: number, clientId: string, version: 4 | 5 = 4): Promise<WsMqtt> {
    const client = new WsMqtt(await WsPeer.open(`ws://127.0.0.1:${port}/mqtt`, ['mqtt']), version);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean: true, keepalive: 0 });
    await until(() => client.packets.some((p) => p.cmd === 'connack'), 'CONNACK');
    return client;
  }

  send(packet: Packet): void {
    this.peer.ws.send(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }
}

/** Polls `check` every 20 ms until it is true; throws after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
