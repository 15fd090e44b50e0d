/**
 * One count of open connections for every listener (MQTT, STOMP, their TLS
 * variants, WebSocket), so `limits.maxConnections` and
 * `limits.maxConnectionsPerIp` hold across protocols and transports, and a
 * per-IP token bucket on new connections. Pure: no sockets; the clock is
 * injected.
 */
import { TokenBucket } from './rate-limit.js';

export interface ConnectionGateLimits {
  /** Connections open at once, all listeners together. */
  readonly maxConnections: number;
  /** Connections open at once from one address. */
  readonly maxConnectionsPerIp: number;
  /** New connections per second from one address (also the burst); 0: no limit. */
  readonly connectionsPerIpPerSecond: number;
}

/** Why a connection was refused; each protocol maps it to its own answer. */
export type ConnectionRefusal = 'max-connections' | 'max-connections-per-ip' | 'connection-rate';

export type Admission =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: ConnectionRefusal; readonly message: string; /** When trying again makes sense. */ readonly retryAfterSeconds: number };

const ADMITTED: Admission = Object.freeze({ ok: true });

// Past this many remembered addresses, idle ones are forgotten.
const PRUNE_AT = 10_000;

export class ConnectionGate {
  readonly #limits: ConnectionGateLimits;
  readonly #now: () => number;
  readonly #open = new Map<string, number>();
  readonly #buckets = new Map<string, TokenBucket>();
  #total = 0;

  constructor(limits: ConnectionGateLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Connections open now. */
  get total(): number {
    return this.#total;
  }

  /** Connections open now from `ip`. */
  countOf(ip: string): number {
    return this.#open.get(ip) ?? 0;
  }

  /**
   * Admits a new connection from `ip` (the socket's remote address; an
   * unknown one is counted under ''), or says which limit refuses it. An
   * admitted connection holds its slot until `release(ip)`, once, when it closes.
   */
  admit(ip: string): Admission {
    const limits = this.#limits;
    if (this.#total >= limits.maxConnections) {
      return refuse('max-connections', `the broker holds its maximum of ${limits.maxConnections} connections`, 5);
    }
    const open = this.#open.get(ip) ?? 0;
    if (open >= limits.maxConnectionsPerIp) {
      return refuse('max-connections-per-ip', `this address holds its maximum of ${limits.maxConnectionsPerIp} connections`, 5);
    }
    if (limits.connectionsPerIpPerSecond > 0) {
      const nowMs = this.#now();
      let bucket = this.#buckets.get(ip);
      if (bucket === undefined) {
        if (this.#buckets.size >= PRUNE_AT) this.#prune(nowMs);
        bucket = new TokenBucket(limits.connectionsPerIpPerSecond, limits.connectionsPerIpPerSecond, nowMs);
        this.#buckets.set(ip, bucket);
      }
      if (!bucket.take(nowMs)) {
        const retryAfterSeconds = Math.max(1, Math.ceil(bucket.waitMs(nowMs) / 1000));
        return refuse('connection-rate', `this address opens more than ${limits.connectionsPerIpPerSecond} connections a second`, retryAfterSeconds);
      }
    }
    this.#total++;
    this.#open.set(ip, open + 1);
    return ADMITTED;
  }

  /**
   * Gives back the slot of a connection `admit(ip)` admitted. Not a closure
   * per admission: an idle connection should cost as little as it can.
   */
  release(ip: string): void {
    const open = this.#open.get(ip);
    if (open === undefined) return;
    this.#total--;
    if (open > 1) this.#open.set(ip, open - 1);
    else this.#open.delete(ip);
  }

  /** Forgets buckets that are full again: they would admit the same as a new one. */
  #prune(nowMs: number): void {
    for (const [ip, bucket] of this.#buckets) {
      if (bucket.isFull(nowMs)) this.#buckets.delete(ip);
    }
  }
}

function refuse(reason: ConnectionRefusal, message: string, retryAfterSeconds: number): Admission {
  return { ok: false, reason, message, retryAfterSeconds };
}
