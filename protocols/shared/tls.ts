import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSecureContext, createServer as createTlsServer, TLSSocket, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import { RoostError } from '../../src/core/errors.js';

/** The TLS settings every secure listener shares (file paths, read at start and on `reload()`). */
export interface TlsSettings {
  /** PEM certificate chain of the server. */
  readonly cert: string;
  /** PEM private key of the server. */
  readonly key: string;
  /** PEM CA bundle that client certificates must chain to; unset: the system's roots. */
  readonly ca?: string | undefined;
  /** Ask for a client certificate and refuse the handshake when it is missing or not signed by `ca`. */
  readonly requestClientCert: boolean;
  /** Oldest protocol version accepted. */
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
}

/** Servers that `reload()` updates; both kinds have `setSecureContext`. */
type SecureServer = TlsServer | HttpsServer;

/**
 * Loads the certificate, key and CA files once for every secure listener
 * (mqtts, STOMP over TLS, https/wss) and swaps them on `reload()` without
 * touching connections already open: `setSecureContext` only affects
 * handshakes that start afterwards.
 */
export class TlsContext {
  readonly #settings: TlsSettings;
  readonly #servers = new Set<SecureServer>();
  #material: SecureContextOptions;

  private constructor(settings: TlsSettings, material: SecureContextOptions) {
    this.#settings = settings;
    this.#material = material;
  }

  /** @throws RoostError TLS_FILE_UNREADABLE | TLS_INVALID */
  static load(settings: TlsSettings): TlsContext {
    return new TlsContext(settings, readMaterial(settings));
  }

  /** True when the handshake asks for, and verifies, a client certificate. */
  get mutual(): boolean {
    return this.#settings.requestClientCert;
  }

  /**
   * Re-reads the files and applies them to every server made here. On any
   * problem the old certificate stays in force and the error is thrown.
   * @throws RoostError TLS_FILE_UNREADABLE | TLS_INVALID
   */
  reload(): void {
    const material = readMaterial(this.#settings);
    for (const server of this.#servers) server.setSecureContext(material);
    this.#material = material;
  }

  /** A TLS server (not yet listening) calling `onSocket` for each completed handshake. */
  createTlsServer(onSocket: (socket: TLSSocket) => void): TlsServer {
    const server = createTlsServer({ ...this.#serverOptions(), noDelay: true }, onSocket);
    this.#track(server);
    return server;
  }

  /** An HTTPS server (not yet listening) for `wss://` and `/healthz`. */
  createHttpsServer(onRequest: (req: IncomingMessage, res: ServerResponse) => void): HttpsServer {
    const server = createHttpsServer({ ...this.#serverOptions(), noDelay: true }, onRequest);
    this.#track(server);
    return server;
  }

  #serverOptions() {
    const mutual = this.#settings.requestClientCert;
    return {
      ...this.#material,
      minVersion: this.#settings.minVersion,
      requestCert: mutual,
      // With a client certificate asked for, an unverified one fails the handshake itself.
      rejectUnauthorized: mutual,
    };
  }

  #track(server: SecureServer): void {
    this.#servers.add(server);
    server.once('close', () => this.#servers.delete(server));
    // A failed handshake (wrong CA, plain text on a TLS port) concerns that peer only.
    server.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());
  }
}

function readMaterial(settings: TlsSettings): SecureContextOptions {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new RoostError('TLS_FILE_UNREADABLE', `tls.${what}: cannot read ${path} (${code})`, { cause: err });
    }
  };
  const material: SecureContextOptions = {
    cert: read('cert', settings.cert),
    key: read('key', settings.key),
    ...(settings.ca === undefined ? {} : { ca: read('ca', settings.ca) }),
  };
  try {
    // Fails here, not at the first handshake, on a key that does not match or a file that is not PEM.
    createSecureContext(material);
  } catch (err) {
    throw new RoostError('TLS_INVALID', `tls: the certificate, key or CA is not usable: ${(err as Error).message}`, { cause: err });
  }
  return material;
}

/** Where a stream that wraps a socket (a WebSocket stream) keeps that socket, for `clientCertificateCn`. */
export const UNDERLYING_SOCKET: unique symbol = Symbol('roost.underlyingSocket');

/**
 * The common name of the peer's verified TLS client certificate, or
 * undefined when there is none (plain connection, no certificate, or one that
 * was not verified). `conn` is what a protocol engine holds: a TLSSocket, or
 * a stream carrying its socket under `UNDERLYING_SOCKET` (aedes'
 * `client.conn` for MQTT over wss).
 */
export function clientCertificateCn(conn: unknown): string | undefined {
  let socket: unknown = conn;
  if (typeof conn === 'object' && conn !== null && UNDERLYING_SOCKET in conn) {
    socket = (conn as { [UNDERLYING_SOCKET]: unknown })[UNDERLYING_SOCKET];
  }
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const subject = socket.getPeerCertificate().subject as Record<string, string | string[] | undefined> | undefined;
  const cn = subject?.['CN'];
  const first = Array.isArray(cn) ? cn[0] : cn;
  return first === undefined || first === '' ? undefined : first;
}
