/**
 * `mqtt-persist`: QoS 1 messages into an offline persistent session, then
 * the drain. A subscriber connects with a fixed client id and clean session
 * false (MQTT 3.1.1), subscribes `persist/#` at QoS 1 and disconnects.
 * Publishers then send `--messages` numbered QoS 1 messages (a window in
 * flight each, as in mqtt-fanin-q1): enqueue msg/s counts PUBACKs. The
 * subscriber reconnects with the same id and drains, acking everything:
 * drain msg/s, loss and duplicates by sequence number.
 *
 * With `--kill` the broker is SIGKILLed right after the last PUBACK and
 * started again on the same data dir and port before the drain;
 * `survivedPct` is the share of acknowledged messages delivered after it.
 * Each phase is capped (`--phase-timeout-ms`); a capped phase reports what
 * it reached.
 */

import net from 'node:net';
import { generate, parser as createParser, type Packet } from 'mqtt-packet';
import { Publisher, RawMqttClient, readPublisherIndex, readSeq } from '../mqtt-raw.js';
import { CpuMeter, readPeakRssBytes, readRssBytes } from '../proc.js';
import type { BenchOptions, BenchResult, Scenario } from '../scenario.js';
import { lossPct } from '../stats.js';
import { sleep, type RunningTarget, type Target } from '../targets/launch.js';
import { cpuNotes, forEachTarget, numberFlag, type Measurement } from './each-target.js';
import { endWith } from '../socket-end.js';

const NAME = 'mqtt-persist';
const PAYLOAD_BYTES = 64;
const BATCH_SIZE = 64;
const DEFAULT_MESSAGES = 100_000;
const DEFAULT_PUBLISHERS = 10;
const DEFAULT_WINDOW = 100;
const DEFAULT_PHASE_TIMEOUT_MS = 60_000;
/** The drain ends when every acknowledged message has arrived or nothing has arrived for this long. */
const DEFAULT_DRAIN_QUIET_MS = 3_000;
const TOPIC_PREFIX = 'persist/p';
const FILTER = 'persist/#';
/** Packet ids cycle through 1…65535 (the Publisher writes `seq % 0xffff + 1`). */
const PACKET_ID_CYCLE = 0xffff;

const TYPE_PUBLISH = 3;
const TYPE_PUBACK = 4;
const PUBACK_BYTES = 4;

// --- pure parts (tested in test/unit/bench-persist.test.ts)

/**
 * The sequence number a PUBACK's packet id acknowledges: the newest sequence
 * number below `sent` whose packet id (`seq % 65535 + 1`) is `packetId`.
 * Exact while fewer than 65,535 publishes are in flight. -1 when no
 * sequence number below `sent` has that id.
 */
export function seqForPacketId(packetId: number, sent: number): number {
  const index = packetId - 1;
  if (!Number.isInteger(index) || index < 0 || index >= PACKET_ID_CYCLE || sent <= 0) return -1;
  const newest = sent - 1;
  const back = (((newest - index) % PACKET_ID_CYCLE) + PACKET_ID_CYCLE) % PACKET_ID_CYCLE;
  const seq = newest - back;
  return seq >= 0 ? seq : -1;
}

/** One MQTT frame found in a buffer: where it starts, its packet type, the flags of its first byte, where its body starts and where it ends. */
export interface Frame {
  readonly start: number;
  readonly type: number;
  readonly flags: number;
  readonly bodyStart: number;
  readonly end: number;
}

/**
 * Calls `onFrame` for each complete MQTT frame at the start of `data` and
 * returns how many bytes they took; an incomplete last frame is left for
 * the next chunk. Reads the remaining length [MQTT-2.2.3] in place.
 * @throws RangeError on a remaining length of more than four bytes.
 */
export function splitFrames(data: Buffer, onFrame: (frame: Frame) => void): number {
  const end = data.length;
  let pos = 0;
  while (pos + 2 <= end) {
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
      if (cursor - pos > 4) throw new RangeError('malformed remaining length');
      break;
    }
    const frameEnd = cursor + length;
    if (frameEnd > end) break;
    const header = data[pos] as number;
    onFrame({ start: pos, type: header >>> 4, flags: header & 0x0f, bodyStart: cursor, end: frameEnd });
    pos = frameEnd;
  }
  return pos;
}

/** What the drain delivered of what the publishers had acknowledged. */
export interface DrainTally {
  /** Messages PUBACKed to the publishers. */
  readonly acked: number;
  /** Distinct acknowledged messages the drain delivered. */
  readonly deliveredAcked: number;
  /** Distinct messages delivered that were sent but not acknowledged (a capped enqueue phase). */
  readonly deliveredUnacked: number;
  /** Deliveries of a message already delivered. */
  readonly duplicates: number;
}

/**
 * Tallies per publisher: `acked[p][seq]` is 1 when that message was PUBACKed,
 * `received[p][seq]` how often the drain delivered it (saturating at 255).
 */
export function tallyDrain(acked: readonly Uint8Array[], received: readonly Uint8Array[]): DrainTally {
  let ackedCount = 0;
  let deliveredAcked = 0;
  let deliveredUnacked = 0;
  let duplicates = 0;
  for (let p = 0; p < acked.length; p++) {
    const a = acked[p] as Uint8Array;
    const r = received[p];
    for (let seq = 0; seq < a.length; seq++) {
      const times = r?.[seq] ?? 0;
      if (a[seq] === 1) {
        ackedCount++;
        if (times > 0) deliveredAcked++;
      } else if (times > 0) {
        deliveredUnacked++;
      }
      if (times > 1) duplicates += times - 1;
    }
  }
  return { acked: ackedCount, deliveredAcked, deliveredUnacked, duplicates };
}

/**
 * Up to `limit` runs of acknowledged but undelivered messages, as
 * `p<publisher>:<first>-<last>`, so a loss says where it happened.
 */
export function missingRuns(acked: readonly Uint8Array[], received: readonly Uint8Array[], limit: number): string[] {
  const runs: string[] = [];
  for (let p = 0; p < acked.length && runs.length < limit; p++) {
    const a = acked[p] as Uint8Array;
    const r = received[p];
    let first = -1;
    for (let seq = 0; seq <= a.length && runs.length < limit; seq++) {
      const missing = seq < a.length && a[seq] === 1 && (r?.[seq] ?? 0) === 0;
      if (missing && first < 0) first = seq;
      if (!missing && first >= 0) {
        runs.push(first === seq - 1 ? `p${p}:${first}` : `p${p}:${first}-${seq - 1}`);
        first = -1;
      }
    }
  }
  return runs;
}

/** Percentage of `of` that `part` is, rounded to 2 decimals; 0 when `of` is 0. */
export function pct(part: number, of: number): number {
  return of <= 0 ? 0 : Math.round((part / of) * 100 * 100) / 100;
}

// --- the persistent-session subscriber

/**
 * A subscriber on a raw socket that connects with clean session false
 * (the bench's RawMqttClient always connects clean), scans PUBLISH frames in
 * place and PUBACKs each QoS 1 one; the acks of one event-loop turn leave in
 * one write.
 */
class SessionSubscriber {
  readonly socket: net.Socket;
  onPublish: ((data: Buffer, payloadStart: number) => void) | undefined;
  error: Error | undefined;
  readonly #parser = createParser({ protocolVersion: 4 });
  #pending: Buffer | undefined;
  #acks: number[] = [];
  #closed = false;
  #control: ((packet: Packet) => void) | undefined;
  #failWaiter: ((err: Error) => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.#parser.on('packet', (packet: Packet) => this.#control?.(packet));
    this.#parser.on('error', (err: Error) => this.#fail(err));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => {
      this.#closed = true;
      this.#fail(this.error ?? new Error('connection closed'));
    });
  }

  /**
   * Connects with clean session false and waits for CONNACK. `onPublish` is
   * set before CONNECT leaves: a broker may send queued messages in the same
   * segment as the CONNACK.
   * @returns the client and CONNACK's session-present flag.
   * @throws Error when the connection fails, times out or is refused.
   */
  static async connect(
    host: string,
    port: number,
    clientId: string,
    timeoutMs: number,
    onPublish?: (data: Buffer, payloadStart: number) => void,
  ): Promise<{ client: SessionSubscriber; sessionPresent: boolean }> {
    const client = new SessionSubscriber(net.connect({ host, port, noDelay: true }));
    client.onPublish = onPublish;
    try {
      const connack = await client.#request(
        generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: false, keepalive: 0 }),
        'connack',
        timeoutMs,
      );
      if (connack.cmd !== 'connack') throw new Error(`expected CONNACK, got ${connack.cmd}`);
      if ((connack.returnCode ?? 0) !== 0) throw new Error(`CONNACK refused the connection: return code ${connack.returnCode}`);
      return { client, sessionPresent: connack.sessionPresent };
    } catch (err) {
      client.socket.destroy();
      throw err;
    }
  }

  /** @throws Error when the broker refuses the subscription or does not answer within `timeoutMs`. */
  async subscribe(filter: string, timeoutMs: number): Promise<void> {
    const suback = await this.#request(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] }), 'suback', timeoutMs);
    if (suback.cmd === 'suback' && suback.granted.some((granted) => granted !== 1)) {
      throw new Error(`SUBACK granted ${JSON.stringify(suback.granted)} for ${filter} at QoS 1`);
    }
  }

  /** Sends DISCONNECT and resolves once the broker has closed the connection (or after 2 s). */
  async disconnect(): Promise<void> {
    if (this.#closed) return;
    await endWith(this.socket, generate({ cmd: 'disconnect' }), 2_000);
  }

  destroy(): void {
    this.socket.destroy();
  }

  #request(bytes: Buffer, cmd: string, timeoutMs: number): Promise<Packet> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${cmd.toUpperCase()} within ${timeoutMs} ms`)), timeoutMs);
      this.#control = (packet) => {
        if (packet.cmd !== cmd) return;
        clearTimeout(timer);
        this.#control = undefined;
        this.#failWaiter = undefined;
        resolve(packet);
      };
      this.#failWaiter = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      this.socket.write(bytes);
    });
  }

  #fail(err: Error): void {
    this.error ??= err;
    this.#failWaiter?.(err);
    this.#failWaiter = undefined;
    if (!this.#closed) this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    let data = chunk;
    if (this.#pending !== undefined) {
      data = Buffer.concat([this.#pending, chunk]);
      this.#pending = undefined;
    }
    const acksBefore = this.#acks.length;
    let used: number;
    try {
      used = splitFrames(data, (frame) => {
        if (frame.type === TYPE_PUBLISH) {
          const qos = (frame.flags >>> 1) & 0x03;
          let payloadStart = frame.bodyStart + 2 + data.readUInt16BE(frame.bodyStart);
          if (qos > 0) {
            const messageId = data.readUInt16BE(payloadStart);
            payloadStart += 2;
            if (qos === 1) this.#acks.push(messageId);
          }
          if (frame.end - payloadStart >= 8) this.onPublish?.(data, payloadStart);
        } else if (frame.type !== TYPE_PUBACK) {
          // CONNACK, SUBACK, …: rare, so mqtt-packet parses them.
          this.#parser.parse(data.subarray(frame.start, frame.end));
        }
      });
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (used < data.length) this.#pending = data.subarray(used);
    if (acksBefore === 0 && this.#acks.length > 0) setImmediate(() => this.#writeAcks());
  }

  #writeAcks(): void {
    const ids = this.#acks;
    this.#acks = [];
    if (ids.length === 0 || this.#closed) return;
    const out = Buffer.allocUnsafe(ids.length * PUBACK_BYTES);
    for (let i = 0; i < ids.length; i++) {
      const at = i * PUBACK_BYTES;
      out[at] = TYPE_PUBACK << 4;
      out[at + 1] = 2;
      out.writeUInt16BE(ids[i] as number, at + 2);
    }
    this.socket.write(out);
  }
}

// --- the measurement

interface Plan {
  readonly messages: number;
  readonly publishers: number;
  readonly window: number;
  readonly phaseTimeoutMs: number;
  readonly quietMs: number;
  readonly kill: boolean;
}

function planOf(options: BenchOptions): Plan {
  const messages = Math.floor(numberFlag(options, 'messages', DEFAULT_MESSAGES));
  const publishers = Math.max(1, Math.min(messages, Math.floor(numberFlag(options, 'publishers', DEFAULT_PUBLISHERS))));
  const window = Math.floor(numberFlag(options, 'window', DEFAULT_WINDOW));
  if (window >= PACKET_ID_CYCLE) throw new Error(`--window: at most ${PACKET_ID_CYCLE - 1} publishes can be told apart in flight`);
  return {
    messages,
    publishers,
    window,
    phaseTimeoutMs: numberFlag(options, 'phase-timeout-ms', DEFAULT_PHASE_TIMEOUT_MS),
    quietMs: numberFlag(options, 'settle-ms', DEFAULT_DRAIN_QUIET_MS),
    kill: options.extra['kill'] === true,
  };
}

/** Messages of publisher `p` when `messages` are split over `publishers` (the first ones take the remainder). */
export function quotaOf(p: number, messages: number, publishers: number): number {
  return Math.floor(messages / publishers) + (p < messages % publishers ? 1 : 0);
}

function isRestartable(target: Target): target is RunningTarget {
  return typeof (target as Partial<RunningTarget>).restart === 'function';
}

async function measurePersist(target: Target, plan: Plan): Promise<Measurement> {
  if (plan.kill && !isRestartable(target)) throw new Error('--kill needs a broker the harness started (not --port)');
  const runId = `${process.pid}-${Date.now().toString(36)}`;
  const clientId = `bench-persist-${runId}`;
  const connectTimeoutMs = Math.min(10_000, plan.phaseTimeoutMs);
  const quotas = Array.from({ length: plan.publishers }, (_, p) => quotaOf(p, plan.messages, plan.publishers));
  const acked = quotas.map((quota) => new Uint8Array(quota));
  const received = quotas.map((quota) => new Uint8Array(quota));
  const clients: Array<{ destroy(): void }> = [];
  const notes: Record<string, string | number> = { messages: plan.messages, publishers: plan.publishers, windowPerPublisher: plan.window };
  const figures: Record<string, number> = {};
  try {
    // 1. The persistent session: subscribe, then go offline.
    const first = await SessionSubscriber.connect(target.host, target.port, clientId, connectTimeoutMs);
    clients.push(first.client);
    await first.client.subscribe(FILTER, connectTimeoutMs);
    await first.client.disconnect();

    // 2. Enqueue: each publisher sends its quota with `window` in flight.
    const publishers: Publisher[] = [];
    let ackedTotal = 0;
    let lastAckMs = 0;
    let enqueueRunning = false;
    let enqueueDone: () => void = () => undefined;
    const allAcked = new Promise<void>((resolve) => {
      enqueueDone = resolve;
    });
    for (let p = 0; p < plan.publishers; p++) {
      const client = await RawMqttClient.connect({ host: target.host, port: target.port, clientId: `bench-persist-pub-${p}-${runId}`, timeoutMs: connectTimeoutMs });
      clients.push(client);
      const publisher = new Publisher(client, { topic: `${TOPIC_PREFIX}${p}`, qos: 1, payloadBytes: PAYLOAD_BYTES, publisherIndex: p, batchSize: BATCH_SIZE });
      publishers.push(publisher);
      const quota = quotas[p] as number;
      const mine = acked[p] as Uint8Array;
      const countPuback = client.onPuback;
      client.onPuback = (messageId) => {
        countPuback?.(messageId);
        const seq = seqForPacketId(messageId, publisher.sent);
        if (seq >= 0 && seq < quota && mine[seq] === 0) {
          mine[seq] = 1;
          ackedTotal++;
          lastAckMs = performance.now();
        }
      };
      let scheduled = false;
      const refill = (): void => {
        scheduled = false;
        if (enqueueRunning) fill(publisher, plan.window, quota);
      };
      client.onChunkEnd = () => {
        if (ackedTotal >= plan.messages) enqueueDone();
        if (!scheduled) {
          scheduled = true;
          setImmediate(refill);
        }
      };
    }
    const enqueueCpu = new CpuMeter(new Map(target.pid === undefined ? [] : [['broker', target.pid]]));
    const enqueueStart = performance.now();
    enqueueCpu.start();
    enqueueRunning = true;
    for (const [p, publisher] of publishers.entries()) fill(publisher, plan.window, quotas[p] as number);
    const enqueueCapped = !(await within(allAcked, plan.phaseTimeoutMs));
    enqueueRunning = false;
    const enqueueEnd = enqueueCapped ? performance.now() : lastAckMs;
    const enqueueShares = enqueueCpu.stop();
    const enqueueSec = Math.max(enqueueEnd - enqueueStart, 1) / 1000;
    const sentTotal = publishers.reduce((total, publisher) => total + publisher.sent, 0);
    figures['enqueuePerSec'] = Math.round(ackedTotal / enqueueSec);
    Object.assign(notes, cpuNotes(enqueueShares), { enqueueMs: Math.round(enqueueSec * 1000), sentTotal });
    if (enqueueCapped) notes['enqueueCapped'] = `phase cap of ${plan.phaseTimeoutMs} ms reached: ${ackedTotal} of ${plan.messages} acknowledged`;
    if (target.pid !== undefined) {
      const rss = readRssBytes(target.pid);
      const peak = readPeakRssBytes(target.pid);
      if (rss !== undefined) figures['queuedRssBytes'] = rss;
      if (peak !== undefined) figures['queuedPeakRssBytes'] = peak;
    }

    // 3. With --kill: SIGKILL right after the last PUBACK, start again on the same data dir and port.
    if (plan.kill && isRestartable(target)) {
      const killedPid = target.pid;
      const restartStart = performance.now();
      await target.restart();
      figures['restartMs'] = Math.round(performance.now() - restartStart);
      notes['killedPid'] = killedPid ?? 0;
      notes['restartedPid'] = target.pid ?? 0;
    }
    for (const client of clients) client.destroy();
    clients.length = 0;

    // 4. Drain: reconnect with the same id, clean session false, ack everything.
    let deliveredNew = 0;
    let deliveredAcked = 0;
    let lastArrivalMs = 0;
    const drainCpu = new CpuMeter(new Map(target.pid === undefined ? [] : [['broker', target.pid]]));
    const drainStart = performance.now();
    drainCpu.start();
    const onPublish = (data: Buffer, payloadStart: number): void => {
      const p = readPublisherIndex(data, payloadStart);
      const seq = readSeq(data, payloadStart);
      const row = received[p];
      if (row === undefined || seq >= row.length) return;
      const times = row[seq] as number;
      if (times < 255) row[seq] = times + 1;
      if (times === 0) {
        deliveredNew++;
        lastArrivalMs = performance.now();
        if (acked[p]?.[seq] === 1) deliveredAcked++;
      }
    };
    const second = await SessionSubscriber.connect(target.host, target.port, clientId, connectTimeoutMs, onPublish);
    clients.push(second.client);
    figures['sessionPresent'] = second.sessionPresent ? 1 : 0;
    let drainCapped = false;
    let lastSeen = 0;
    let quietSince = performance.now();
    for (;;) {
      await sleep(20);
      const now = performance.now();
      if (deliveredAcked >= ackedTotal) break;
      if (deliveredNew !== lastSeen) {
        lastSeen = deliveredNew;
        quietSince = now;
      } else if (now - quietSince >= plan.quietMs) {
        break;
      }
      if (second.client.error !== undefined && deliveredNew === lastSeen && now - quietSince >= 100) break;
      if (now - drainStart >= plan.phaseTimeoutMs) {
        drainCapped = true;
        break;
      }
    }
    // Let the last PUBACKs leave before the connection goes.
    await sleep(50);
    const drainShares = drainCpu.stop();
    const drainEnd = deliveredNew > 0 ? lastArrivalMs : performance.now();
    const drainSec = Math.max(drainEnd - drainStart, 1) / 1000;
    const tally = tallyDrain(acked, received);
    figures['drainPerSec'] = deliveredNew > 0 ? Math.round(deliveredNew / drainSec) : 0;
    figures['ackedMsgs'] = tally.acked;
    figures['deliveredMsgs'] = tally.deliveredAcked;
    figures['lossPct'] = lossPct(tally.acked, tally.deliveredAcked);
    figures['duplicates'] = tally.duplicates;
    if (plan.kill) figures['survivedPct'] = pct(tally.deliveredAcked, tally.acked);
    if (target.pid !== undefined) {
      const rss = readRssBytes(target.pid);
      if (rss !== undefined) figures['drainedRssBytes'] = rss;
    }
    const drainNotes = cpuNotes(drainShares);
    notes['drainMs'] = Math.round(drainSec * 1000);
    notes['drainGeneratorCpuPct'] = drainNotes['generatorCpuPct'] ?? 0;
    if (drainNotes['brokerCpuPct'] !== undefined) notes['drainBrokerCpuPct'] = drainNotes['brokerCpuPct'];
    if (drainNotes['othersCpuPct'] !== undefined) notes['drainOthersCpuPct'] = drainNotes['othersCpuPct'];
    notes['drainLimit'] = deliveredNew === 0 ? 'nothing was delivered' : String(drainNotes['limit']);
    if (tally.deliveredUnacked > 0) notes['deliveredUnacked'] = tally.deliveredUnacked;
    if (tally.deliveredAcked < tally.acked) notes['missingSample'] = missingRuns(acked, received, 5).join(' ');
    if (drainCapped) notes['drainCapped'] = `phase cap of ${plan.phaseTimeoutMs} ms reached: ${tally.deliveredAcked} of ${tally.acked} delivered`;
    if (second.client.error !== undefined && second.client.error.message !== 'connection closed') notes['drainError'] = second.client.error.message;
    return { figures, notes };
  } finally {
    for (const client of clients) client.destroy();
  }
}

/** Sends until `window` are in flight or the publisher's `quota` is sent, in batches. */
function fill(publisher: Publisher, window: number, quota: number): void {
  let room = Math.min(window - publisher.inflight, quota - publisher.sent);
  while (room > 0) {
    const n = Math.min(room, BATCH_SIZE);
    publisher.send(n);
    room -= n;
  }
}

/** True when `promise` settles within `ms`, false when the time ran out first. */
async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export const mqttPersist: Scenario = {
  name: NAME,
  description:
    'QoS 1 into an offline persistent session (clean session false), then drain: enqueue and drain msg/s, loss; --kill: SIGKILL + restart before the drain, survivedPct',
  run: (options: BenchOptions): Promise<BenchResult[]> => {
    const plan = planOf(options);
    // Roost keeps 1,000 messages per offline session by default (mqtt.maxQueuedMessages) and drops the
    // oldest past that; like mosquitto's max_queued_messages 0 in the harness, room for every message.
    const maxQueued = Math.floor(numberFlag(options, 'max-queued', Math.max(plan.messages, 1_000)));
    return forEachTarget(NAME, options, async (target) => {
      const measurement = await measurePersist(target, plan);
      return target.name === 'roost' ? { ...measurement, notes: { ...measurement.notes, roostMaxQueuedMessages: maxQueued } } : measurement;
    }, { env: { ROOST_MQTT_MAX_QUEUED_MESSAGES: String(maxQueued) } });
  },
};
