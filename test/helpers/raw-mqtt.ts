import { connect as netConnect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

/**
 * An MQTT peer on a bare socket, for what well-behaved clients never send:
 * it writes any bytes and records every packet the broker answers with.
 */
export class RawMqtt {
  readonly socket: Socket;
  readonly packets: Packet[] = [];
  readonly #waiters: (() => void)[] = [];
  #closed = false;
  readonly #closedPromise: Promise<void>;
  readonly version: 3 | 4 | 5;

  private constructor(socket: Socket, version: 3 | 4 | 5) {
    this.socket = socket;
    this.version = version;
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (packet: Packet) => {
      this.packets.push(packet);
      this.#wake();
    });
    parser.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', () => undefined);
    this.#closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.#closed = true;
        this.#wake();
        resolve();
      });
    });
  }

  static async open(port: number, version: 3 | 4 | 5 = 4): Promise<RawMqtt> {
    const socket = netConnect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawMqtt(socket, version);
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
  async next(cmd?: Packet['cmd'], timeoutMs = 5_000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.packets.findIndex((p) => cmd === undefined || p.cmd === cmd);
      if (at >= 0) return this.packets.splice(at, 1)[0] as Packet;
      if (this.#closed) throw new Error(`connection closed while waiting for ${cmd ?? 'a packet'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${cmd ?? 'packet'} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves when the broker has closed the connection; rejects after `timeoutMs`. */
  async closed(timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#closedPromise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
