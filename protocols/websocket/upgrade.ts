import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export type WebSocketEndpoint = 'mqtt' | 'stomp';

/** Subprotocols each endpoint speaks, in the broker's order of preference. */
export const SUBPROTOCOLS: Readonly<Record<WebSocketEndpoint, readonly string[]>> = Object.freeze({
  // `mqttv3.1` is what clients of MQTT 3.1 offer; `mqtt` covers 3.1.1 and 5 [MQTT-6.0.0-3].
  mqtt: Object.freeze(['mqtt', 'mqttv3.1']),
  stomp: Object.freeze(['v12.stomp', 'v11.stomp', 'v10.stomp']),
});

export interface UpgradePaths {
  readonly mqttPath: string;
  readonly stompPath: string;
}

export type UpgradeDecision =
  | { readonly accept: true; readonly endpoint: WebSocketEndpoint }
  | { readonly accept: false; readonly status: 400 | 404; readonly message: string };

/**
 * Which endpoint an upgrade request goes to, or why it is refused: an
 * unknown path is 404; offered subprotocols none of which the endpoint
 * speaks are 400. No `Sec-WebSocket-Protocol` at all is accepted (many
 * clients send none); the handshake then names no subprotocol. Pure.
 */
export function decideUpgrade(url: string | undefined, offeredHeader: string | undefined, paths: UpgradePaths): UpgradeDecision {
  const path = pathOf(url);
  const endpoint: WebSocketEndpoint | undefined = path === paths.mqttPath ? 'mqtt' : path === paths.stompPath ? 'stomp' : undefined;
  if (endpoint === undefined) return { accept: false, status: 404, message: `no WebSocket endpoint at ${truncate(path)}` };
  const offered = parseSubprotocols(offeredHeader);
  if (offered.length > 0 && chooseSubprotocol(endpoint, offered) === undefined) {
    return { accept: false, status: 400, message: `${path} speaks ${SUBPROTOCOLS[endpoint].join(', ')}; none was offered` };
  }
  return { accept: true, endpoint };
}

/** The first subprotocol the client offered that `endpoint` speaks (the client's preference wins). */
export function chooseSubprotocol(endpoint: WebSocketEndpoint, offered: Iterable<string>): string | undefined {
  const ours = SUBPROTOCOLS[endpoint];
  for (const name of offered) if (ours.includes(name)) return name;
  return undefined;
}

/** `Sec-WebSocket-Protocol` tokens (RFC 6455 §4.1: comma-separated, case-sensitive). */
export function parseSubprotocols(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token.length > 0);
}

/** The path of a request target, without the query string. */
export function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/**
 * Answers an upgrade request on the raw socket, before any WebSocket
 * exists, with `status` and a short text body, then destroys the socket
 * once the answer is written.
 */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = `${message}\n`;
  socket.once('finish', () => socket.destroy());
  socket.once('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      '\r\n' +
      body,
  );
}

function truncate(text: string): string {
  // The path is the client's: keep the answer short and on one line.
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 100 ? `${clean.slice(0, 100)}…` : clean;
}
