/**
 * STOMP 1.1/1.2 heart-beating: the negotiation, and the two timers of one
 * connection (send an EOL when the line has been quiet; give up on a client
 * that has been silent too long). Time comes from an injected clock.
 */

import { RoostError } from '../../src/core/errors.js';
import type { StompClock } from './clock.js';

/** `[can send every ms, wants to receive every ms]`, as a `heart-beat` header says. */
export type HeartBeat = readonly [number, number];

const HEART_BEAT = /^\s*([0-9]{1,9})\s*,\s*([0-9]{1,9})\s*$/;

/**
 * The value of a `heart-beat` header; absent means `0,0` (STOMP 1.2 "Heart-beating").
 * @throws RoostError STOMP_HEADER_INVALID when it is not two comma-separated non-negative integers.
 */
export function parseHeartBeat(value: string | undefined): HeartBeat {
  if (value === undefined) return [0, 0];
  const match = HEART_BEAT.exec(value);
  if (!match) {
    throw new RoostError('STOMP_HEADER_INVALID', `heart-beat ${JSON.stringify(value.slice(0, 40))} is not two comma-separated integers`);
  }
  return [Number(match[1]), Number(match[2])];
}

/** The intervals a connection runs with; 0 turns a direction off. */
export interface HeartBeatIntervals {
  /** Broker → client, ms. */
  readonly sendEveryMs: number;
  /** Client → broker, ms. */
  readonly receiveEveryMs: number;
}

/**
 * STOMP 1.2 "Heart-beating": a direction is off when its sender cannot send
 * (0) or its receiver wants nothing (0); otherwise it runs at the larger of
 * the two. `client` is the CONNECT header, `server` what the broker announces.
 */
export function negotiateHeartBeat(client: HeartBeat, server: HeartBeat): HeartBeatIntervals {
  const [cx, cy] = client;
  const [sx, sy] = server;
  return {
    sendEveryMs: sx === 0 || cy === 0 ? 0 : Math.max(sx, cy),
    receiveEveryMs: cx === 0 || sy === 0 ? 0 : Math.max(cx, sy),
  };
}

/** What the timers do when they fire. */
export interface HeartBeatHooks {
  /** Sends one EOL; returns false when the transport is full and nothing was sent. */
  beat(): boolean;
  /** The client has been silent for `silentMs`. Called once; the timers stop. */
  timeout(silentMs: number): void;
}

/**
 * The timers of one connection. `sent()` and `received()` record traffic, so
 * a busy line carries no beats and any bytes count as a sign of life.
 */
export class HeartBeatTimers {
  readonly #clock: StompClock;
  readonly #intervals: HeartBeatIntervals;
  readonly #hooks: HeartBeatHooks;
  #lastSentMs: number;
  #lastReceivedMs: number;
  #sendTimer: unknown;
  #receiveTimer: unknown;
  #stopped = false;

  constructor(clock: StompClock, intervals: HeartBeatIntervals, hooks: HeartBeatHooks) {
    this.#clock = clock;
    this.#intervals = intervals;
    this.#hooks = hooks;
    this.#lastSentMs = this.#lastReceivedMs = clock.now();
    this.#armSend();
    this.#armReceive();
  }

  get intervals(): HeartBeatIntervals {
    return this.#intervals;
  }

  /** Something was written to the client. */
  sent(): void {
    this.#lastSentMs = this.#clock.now();
  }

  /** Something arrived from the client. */
  received(): void {
    this.#lastReceivedMs = this.#clock.now();
  }

  /** Clears both timers. Idempotent. */
  stop(): void {
    this.#stopped = true;
    if (this.#sendTimer !== undefined) this.#clock.clearTimeout(this.#sendTimer);
    if (this.#receiveTimer !== undefined) this.#clock.clearTimeout(this.#receiveTimer);
    this.#sendTimer = this.#receiveTimer = undefined;
  }

  #armSend(): void {
    const every = this.#intervals.sendEveryMs;
    if (every === 0 || this.#stopped) return;
    let due = this.#lastSentMs + every - this.#clock.now();
    // Nothing went out because the transport is full: look again a whole interval later.
    if (due < 1) due = every;
    this.#sendTimer = this.#clock.setTimeout(() => {
      this.#sendTimer = undefined;
      if (this.#stopped) return;
      if (this.#clock.now() - this.#lastSentMs >= every && this.#hooks.beat()) this.#lastSentMs = this.#clock.now();
      this.#armSend();
    }, due);
  }

  #armReceive(): void {
    const every = this.#intervals.receiveEveryMs;
    if (every === 0 || this.#stopped) return;
    // STOMP 1.2 "Heart-beating" leaves the tolerance to the receiver; Roost allows twice the interval.
    const limit = 2 * every;
    const due = this.#lastReceivedMs + limit - this.#clock.now();
    this.#receiveTimer = this.#clock.setTimeout(() => {
      this.#receiveTimer = undefined;
      if (this.#stopped) return;
      const silentMs = this.#clock.now() - this.#lastReceivedMs;
      if (silentMs >= limit) {
        this.stop();
        this.#hooks.timeout(silentMs);
        return;
      }
      this.#armReceive();
    }, Math.max(1, due));
  }
}
