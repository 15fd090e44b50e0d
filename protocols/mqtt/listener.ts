import { createServer, type Server, type Socket } from 'node:net';
import type { Aedes } from 'aedes';
import { listen } from '../shared/listen.js';
import type { TlsContext } from '../shared/tls.js';
import type { ConnectionGate } from '../../src/core/connection-gate.js';
import { refuseAtConnect } from './engine.js';

// A refused connection that never sends CONNECT is dropped after this long.
const REFUSED_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Owns the MQTT TCP server socket and the sockets it accepted. aedes does not
 * close the server it is handed connections from, so this does.
 */
export class MqttListener {
  readonly #server: Server;
  /** Every open socket, with the ConnectionGate slot it gives back when it closes. */
  readonly #sockets: ReadonlyMap<Socket, string | undefined>;
  #closed: Promise<void> | undefined;
  /** The bound port. */
  readonly port: number;

  private constructor(server: Server, sockets: ReadonlyMap<Socket, string | undefined>, port: number) {
    this.#server = server;
    this.#sockets = sockets;
    this.port = port;
  }

  /**
   * With `tls`, the listener speaks MQTT over TLS (mqtts); aedes' `client.conn`
   * is then the TLSSocket, so `clientCertificateCn(client.conn)` names a
   * verified client certificate.
   * @throws RoostError LISTEN_ADDRESS_IN_USE | LISTEN_FAILED
   */
  static async listen(engine: Aedes, host: string, port: number, tls?: TlsContext, gate?: ConnectionGate): Promise<MqttListener> {
    // Each socket with the address its gate slot is held under, if it holds one.
    const sockets = new Map<Socket, string | undefined>();
    // One shared 'close' listener ('close' fires once per socket): an idle
    // connection carries no closure or once() wrapper of its own here, and its
    // socket's listener list stays short.
    function forget(this: Socket): void {
      const address = sockets.get(this);
      sockets.delete(this);
      if (address !== undefined) gate?.release(address);
    }
    const accept = (socket: Socket): void => {
      sockets.set(socket, undefined);
      socket.on('close', forget);
      if (gate !== undefined) {
        const address = socket.remoteAddress ?? '';
        const admission = gate.admit(address);
        if (admission.ok) {
          sockets.set(socket, address);
        } else {
          // Refused with a CONNACK (the engine's authenticate hook), so the client learns why.
          refuseAtConnect(socket, admission.reason);
          const timer = setTimeout(() => socket.destroy(), REFUSED_CONNECT_TIMEOUT_MS);
          timer.unref();
          socket.once('close', () => clearTimeout(timer));
        }
      }
      engine.handle(socket);
    };
    const server = tls === undefined ? createServer({ noDelay: true }, accept) : tls.createTlsServer(accept);
    const address = await listen(server, host, port, tls === undefined ? 'MQTT' : 'MQTT over TLS');
    return new MqttListener(server, sockets, address.port);
  }

  /**
   * Stops accepting new connections; the open ones stay until `close()`.
   * Resolves only once every connection is gone, so callers need not await it.
   */
  stopAccepting(): Promise<void> {
    return (this.#closed ??= new Promise((resolve) => this.#server.close(() => resolve())));
  }

  /**
   * Stops accepting and destroys every socket still open, except those the
   * engine is ending: their last bytes (a DISCONNECT 0x8B behind a backlog)
   * go out within the engine's close grace. Resolves when the server is closed.
   */
  async close(): Promise<void> {
    const closed = this.stopAccepting();
    for (const socket of this.#sockets.keys()) if (!socket.writableEnded) socket.destroy();
    await closed;
  }
}
