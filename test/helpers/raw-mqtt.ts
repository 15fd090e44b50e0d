import type { Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { SocketInbox, openSocket } from './socket-inbox.js';

/**
 * An MQTT peer on a bare socket, for what well-behaved clients never send:
 * it writes any bytes and records every packet the broker answers with.
 */
export class RawMqtt {
  readonly socket: Socket;
  readonly #inbox: SocketInbox<Packet>;
  readonly version: 3 | 4 | 5;

  private constructor(socket: Socket, version: 3 | 4 | 5) {
    this.socket = socket;
    this.version = version;
    this.#inbox = new SocketInbox<Packet>(socket, (packet) => packet.cmd, 'packet');
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (packet: Packet) => this.#inbox.push(packet));
    parser.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  }

  static async open(port: number, version: 3 | 4 | 5 = 4): Promise<RawMqtt> {
    return new RawMqtt(await openSocket(port), version);
  }

  /** Every packet received and not yet taken by `next`, in arrival order. */
  get packets(): Packet[] {
    return this.#inbox.items;
  }

  /** Opens a socket and completes CONNECT/CONNACK. */
  static async connected(port: number, version: 3 | 4 | 5 = 4, connect: Partial<mqttPacket.IConnectPacket> = {}): Promise<RawMqtt> {
    const raw = await RawMqtt.open(port, version);
    raw.send({ cmd: 'connect', protocolId: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clean: true, clientId: '', keepalive: 0, ...connect });
    const connack = await raw.next('connack');
    if ((connack as mqttPacket.IConnackPacket).returnCode ?? (connack as mqttPacket.IConnackPacket).reasonCode) {
      throw new Error(`CONNACK refused: ${JSON.stringify(connack)}`);
    }
    return raw;
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  writeRaw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** The next packet (of `cmd`, when given) the broker sent; rejects on close or timeout. */
  next(cmd?: Packet['cmd'], timeoutMs = 5_000): Promise<Packet> {
    return this.#inbox.next(cmd, timeoutMs);
  }

  /** Resolves when the broker has closed the connection; rejects after `timeoutMs`. */
  closed(timeoutMs = 5_000): Promise<void> {
    return this.#inbox.closed(timeoutMs);
  }

  get isClosed(): boolean {
    return this.#inbox.isClosed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
