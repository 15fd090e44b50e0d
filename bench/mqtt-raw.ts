/**
 * A minimal MQTT 3.1.1 client on a raw `net` socket, built so the load
 * generator is never the bottleneck: PUBLISH packets are generated once by
 * mqtt-packet and then patched in place in reused batch buffers, a window
 * of packets leaves in one `write()`, and received PUBLISH/PUBACK frames are
 * scanned in place without building a packet object. Rare control packets
 * (CONNACK, SUBACK, …) go through mqtt-packet's parser.
 *
 * The same client also speaks MQTT over WebSocket (`transport: 'ws'`): the
 * WebSocket is wrapped as a byte stream, so the batched writes become one
 * binary message each and every received message goes through the same
 * in-place scanner.
 */

import net from 'node:net';
import type { Duplex } from 'node:stream';
import { generate, parser as createParser, type Packet } from 'mqtt-packet';
import { createWebSocketStream, WebSocket } from 'ws';
import { BatchPool } from './batch-pool.js';
import { endWith } from './socket-end.js';

/** Payload layout every bench publisher writes: who sent it, in what order, and when. */
export const PAYLOAD_PUBLISHER_OFFSET = 0; // u32 BE
export const PAYLOAD_SEQ_OFFSET = 4; // u32 BE
export const PAYLOAD_SENT_AT_OFFSET = 8; // f64 BE, performance.now() ms in the harness process
/** Smallest payload that carries the fields above. */
export const PAYLOAD_MIN_BYTES = 16;

const TYPE_PUBLISH = 3;
const TYPE_PUBACK = 4;
const PUBACK_BYTES = 4;

/** How a client reaches the broker: a raw TCP socket, or MQTT over WebSocket ([MQTT-6.0]). */
export type MqttTransport = 'tcp' | 'ws';

/** Subprotocol a bench client offers on WebSocket: MQTT 3.1.1 [MQTT-6.0.0-3]. */
export const MQTT_WS_SUBPROTOCOL = 'mqtt';
/** Default WebSocket path, Roost's `http.mqttPath`. */
export const DEFAULT_MQTT_WS_PATH = '/mqtt';

/**
 * The `ws://` URL of an MQTT WebSocket endpoint (an IPv6 host in brackets).
 * @throws RangeError when `path` does not start with `/` or the port is not 1–65535.
 */
export function mqttWebSocketUrl(host: string, port: number, path: string = DEFAULT_MQTT_WS_PATH): string {
  if (!path.startsWith('/')) throw new RangeError(`WebSocket path must start with "/", got "${path}"`);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new RangeError(`port must be 1–65535, got ${port}`);
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `ws://${bracketed}:${port}${path}`;
}

export interface ConnectOptions {
  readonly host: string;
  /** The MQTT port for TCP; the HTTP port for `transport: 'ws'`. */
  readonly port: number;
  readonly clientId: string;
  /** MQTT keepalive, seconds; 0 (default) disables it so idle clients need no PINGREQ. */
  readonly keepaliveSec?: number;
  /** Give up on the TCP connect + CONNACK after this long, ms (default 10,000). */
  readonly timeoutMs?: number;
  /** `tcp` (default) or `ws`: MQTT over WebSocket, binary messages, subprotocol `mqtt`. */
  readonly transport?: MqttTransport;
  /** WebSocket path (default `/mqtt`); ignored over TCP. */
  readonly path?: string;
}

/**
 * Called for each PUBLISH received. `data` is only valid during the call:
 * read what you need from `data[payloadStart, payloadEnd)` and keep nothing.
 */
export type PublishHandler = (data: Buffer, payloadStart: number, payloadEnd: number, qos: number, messageId: number) => void;

interface Waiter {
  readonly cmd: string;
  readonly messageId: number | undefined;
  readonly resolve: (packet: Packet) => void;
  readonly reject: (err: Error) => void;
}

/** One MQTT 3.1.1 connection. Use `RawMqttClient.connect()`. */
export class RawMqttClient {
  /** The byte stream to the broker: a `net.Socket` over TCP, the WebSocket's stream over `ws`. */
  readonly socket: Duplex;
  /** Receives every PUBLISH; see `PublishHandler` for the lifetime of `data`. */
  onPublish: PublishHandler | undefined;
  /** Receives the packet id of every PUBACK. */
  onPuback: ((messageId: number) => void) | undefined;
  /** Called after each received chunk has been scanned, e.g. to refill a publish window from the PUBACKs just counted. */
  onChunkEnd: (() => void) | undefined;
  /** Answer each QoS 1 PUBLISH with a PUBACK; the acks of one event-loop turn leave in one write. */
  autoAck = false;
  /** The socket error that ended the connection, if any. */
  error: Error | undefined;

  readonly #parser = createParser({ protocolVersion: 4 });
  readonly #waiters: Waiter[] = [];
  #pending: Buffer | undefined;
  #ackIds = new Uint16Array(4096);
  #acks = 0;
  readonly #flushAcks = (): void => this.#writeAcks();
  #closed = false;
  #nextControlId = 1;

  private constructor(socket: Duplex) {
    this.socket = socket;
    this.#parser.on('packet', (packet: Packet) => this.#onControl(packet));
    this.#parser.on('error', (err: Error) => this.#fail(err));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => {
      this.#closed = true;
      this.#fail(this.error ?? new Error('connection closed'));
    });
  }

  /**
   * Opens a TCP connection, sends CONNECT (clean session) and waits for CONNACK.
   * @throws Error when the connection fails, times out or CONNACK refuses it.
   */
  static async connect(options: ConnectOptions): Promise<RawMqttClient> {
    const socket =
      options.transport === 'ws'
        ? openWebSocketStream(mqttWebSocketUrl(options.host, options.port, options.path))
        : net.connect({ host: options.host, port: options.port, noDelay: true });
    const client = new RawMqttClient(socket);
    const timeoutMs = options.timeoutMs ?? 10_000;
    const timer = setTimeout(() => client.#fail(new Error(`CONNACK not received within ${timeoutMs} ms`)), timeoutMs);
    try {
      const connack = client.#expect('connack', undefined);
      socket.write(
        generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clientId: options.clientId,
          clean: true,
          keepalive: options.keepaliveSec ?? 0,
        }),
      );
      const packet = await connack;
      if (packet.cmd === 'connack' && (packet.returnCode ?? 0) !== 0) {
        throw new Error(`CONNACK refused the connection: return code ${packet.returnCode}`);
      }
      return client;
    } catch (err) {
      socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Subscribes to one filter and waits for the SUBACK.
   * @throws Error when the broker refuses (return code 0x80) or the connection ends first.
   */
  async subscribe(filter: string, qos: 0 | 1 | 2): Promise<void> {
    const messageId = this.#nextControlId++;
    const suback = this.#expect('suback', messageId);
    this.socket.write(generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos }] }));
    const packet = await suback;
    if (packet.cmd === 'suback' && packet.granted.some((granted) => granted === 0x80)) {
      throw new Error(`SUBACK refused ${filter}`);
    }
  }

  /** Sends DISCONNECT and ends the socket; resolves when it has closed (or after 1 s). */
  async disconnect(): Promise<void> {
    if (this.#closed) return;
    await endWith(this.socket, generate({ cmd: 'disconnect' }), 1_000);
  }

  /** Closes the socket at once, without DISCONNECT. */
  destroy(): void {
    this.socket.destroy();
  }

  #expect(cmd: string, messageId: number | undefined): Promise<Packet> {
    return new Promise((resolve, reject) => {
      if (this.#closed) reject(this.error ?? new Error('connection closed'));
      else this.#waiters.push({ cmd, messageId, resolve, reject });
    });
  }

  #fail(err: Error): void {
    this.error ??= err;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(err);
    if (!this.#closed) this.socket.destroy();
  }

  #onControl(packet: Packet): void {
    const index = this.#waiters.findIndex(
      (waiter) => waiter.cmd === packet.cmd && (waiter.messageId === undefined || waiter.messageId === packet.messageId),
    );
    if (index === -1) return; // PINGRESP, UNSUBACK, … that nobody waits for
    const [waiter] = this.#waiters.splice(index, 1);
    waiter?.resolve(packet);
  }

  #onData(chunk: Buffer): void {
    let data = chunk;
    if (this.#pending !== undefined) {
      data = Buffer.concat([this.#pending, chunk]);
      this.#pending = undefined;
    }
    // A PUBLISH is at least 4 bytes, so a chunk never adds more acks than this.
    if (this.autoAck && this.#ackIds.length < this.#acks + (data.length >>> 2)) {
      const grown = new Uint16Array(2 * (this.#acks + (data.length >>> 2)));
      grown.set(this.#ackIds.subarray(0, this.#acks));
      this.#ackIds = grown;
    }
    const acksBefore = this.#acks;
    const end = data.length;
    let pos = 0;
    while (pos + 2 <= end) {
      const header = data[pos] as number;
      // [MQTT-2.2.3] remaining length: up to four 7-bit groups, least significant first.
      let length = 0;
      let multiplier = 1;
      let cursor = pos + 1;
      let complete = false;
      for (let groups = 0; groups < 4 && cursor < end; groups++) {
        const byte = data[cursor++] as number;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (cursor - pos > 4) return this.#fail(new Error('malformed remaining length from broker'));
        break;
      }
      const frameEnd = cursor + length;
      if (frameEnd > end) break;
      const type = header >>> 4;
      if (type === TYPE_PUBLISH) {
        const qos = (header >>> 1) & 0x03;
        let payloadStart = cursor + 2 + data.readUInt16BE(cursor);
        let messageId = 0;
        if (qos > 0) {
          messageId = data.readUInt16BE(payloadStart);
          payloadStart += 2;
          if (qos === 1 && this.autoAck) this.#ackIds[this.#acks++] = messageId;
        }
        this.onPublish?.(data, payloadStart, frameEnd, qos, messageId);
      } else if (type === TYPE_PUBACK) {
        this.onPuback?.(data.readUInt16BE(cursor));
      } else {
        this.#parser.parse(data.subarray(pos, frameEnd));
      }
      pos = frameEnd;
    }
    if (pos < end) this.#pending = data.subarray(pos);
    // Every chunk read in this poll phase adds to one write, sent once the phase is over.
    if (acksBefore === 0 && this.#acks > 0) setImmediate(this.#flushAcks);
    this.onChunkEnd?.();
  }

  #writeAcks(): void {
    const acks = this.#acks;
    this.#acks = 0;
    if (acks === 0 || this.#closed) return;
    const out = Buffer.allocUnsafe(acks * PUBACK_BYTES);
    for (let i = 0; i < acks; i++) {
      const at = i * PUBACK_BYTES;
      out[at] = TYPE_PUBACK << 4;
      out[at + 1] = 2;
      out.writeUInt16BE(this.#ackIds[i] as number, at + 2);
    }
    this.socket.write(out);
  }
}

/**
 * A WebSocket to `url` as a byte stream: each `write()` leaves as one binary
 * message (the client masks it, as every client must), each received message
 * is one `'data'` chunk. Writes made before the handshake completes wait for
 * it. The stream is destroyed, so `'close'` is emitted, whenever the
 * WebSocket closes, also when the broker closes it.
 */
function openWebSocketStream(url: string): Duplex {
  // No permessage-deflate: Roost does not offer it, and the bench measures framing, not compression.
  const ws = new WebSocket(url, [MQTT_WS_SUBPROTOCOL], { perMessageDeflate: false });
  const stream = createWebSocketStream(ws);
  ws.once('close', () => stream.destroy());
  return stream;
}

export interface PublisherOptions {
  readonly topic: string;
  readonly qos: 0 | 1;
  /** Payload size, bytes; at least `PAYLOAD_MIN_BYTES`. */
  readonly payloadBytes: number;
  /** Written into each payload so a receiver can tell publishers apart. */
  readonly publisherIndex: number;
  /** Most PUBLISH packets in one socket write. */
  readonly batchSize: number;
}

/**
 * Sends numbered PUBLISH packets on one client. The packet bytes are made
 * once by mqtt-packet; each send patches the sequence number, send time and
 * (QoS 1) packet id in place in a reused batch buffer. A batch buffer goes
 * back to the pool only when its write has completed, so bytes still queued
 * in the socket are never overwritten.
 */
export class Publisher {
  /** PUBLISH packets sent so far; also the next sequence number. */
  sent = 0;
  /** PUBACKs received so far (QoS 1). */
  acked = 0;
  readonly #client: RawMqttClient;
  readonly #qos: 0 | 1;
  readonly #batches: BatchPool;
  readonly #payloadOffset: number;

  /** @throws RangeError when the payload is too small for the sequence fields. */
  constructor(client: RawMqttClient, options: PublisherOptions) {
    if (options.payloadBytes < PAYLOAD_MIN_BYTES) {
      throw new RangeError(`payloadBytes must be at least ${PAYLOAD_MIN_BYTES}, got ${options.payloadBytes}`);
    }
    this.#client = client;
    this.#qos = options.qos;
    const payload = Buffer.alloc(options.payloadBytes, 0x2e);
    payload.writeUInt32BE(options.publisherIndex, PAYLOAD_PUBLISHER_OFFSET);
    const template = generate({
      cmd: 'publish',
      topic: options.topic,
      payload,
      qos: options.qos,
      retain: false,
      dup: false,
      ...(options.qos > 0 ? { messageId: 1 } : {}),
    });
    this.#batches = new BatchPool(template, options.batchSize);
    this.#payloadOffset = template.length - options.payloadBytes;
    client.onPuback = () => {
      this.acked++;
    };
  }

  /** Packets sent and not yet acknowledged (QoS 1; always 0 at QoS 0). */
  get inflight(): number {
    return this.#qos === 0 ? 0 : this.sent - this.acked;
  }

  /**
   * Writes `count` (≤ batch size) PUBLISH packets in one socket write, all
   * stamped with the current time.
   * @returns the socket's `write()` result: false means wait for 'drain'.
   */
  send(count: number): boolean {
    const batches = this.#batches;
    const n = Math.min(count, batches.batchSize);
    if (n <= 0) return true;
    const batch = batches.take();
    const sentAtMs = performance.now();
    const size = batches.unitBytes;
    const payloadOffset = this.#payloadOffset;
    for (let i = 0; i < n; i++) {
      const seq = this.sent++;
      const at = i * size;
      if (this.#qos > 0) batch.writeUInt16BE((seq % 0xffff) + 1, at + payloadOffset - 2);
      batch.writeUInt32BE(seq >>> 0, at + payloadOffset + PAYLOAD_SEQ_OFFSET);
      batch.writeDoubleBE(sentAtMs, at + payloadOffset + PAYLOAD_SENT_AT_OFFSET);
    }
    if (this.#client.closed) return false;
    return this.#client.socket.write(batches.slice(batch, n), batch.release);
  }
}

/** Sequence number of the bench payload starting at `payloadStart`. */
export function readSeq(data: Buffer, payloadStart: number): number {
  return data.readUInt32BE(payloadStart + PAYLOAD_SEQ_OFFSET);
}

/** Publisher index of the bench payload starting at `payloadStart`. */
export function readPublisherIndex(data: Buffer, payloadStart: number): number {
  return data.readUInt32BE(payloadStart + PAYLOAD_PUBLISHER_OFFSET);
}

/** Send time (harness `performance.now()`, ms) of the bench payload starting at `payloadStart`. */
export function readSentAtMs(data: Buffer, payloadStart: number): number {
  return data.readDoubleBE(payloadStart + PAYLOAD_SENT_AT_OFFSET);
}
