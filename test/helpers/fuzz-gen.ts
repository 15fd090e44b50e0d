/**
 * Seeded input generators for the fuzz run (`test/integration/fuzz.test.ts`).
 * Pure: no sockets, timers or clock. The same seed gives the same bytes, so a
 * failing run can be replayed (see docs/fuzzing.md).
 *
 * Every name a generator produces (MQTT topics and client ids, STOMP
 * destinations) starts with `fz`, so nothing here can reach the topic, queue
 * or client ids of the well-behaved clients that run alongside (`roost-watch-…`).
 */
import mqttPacket, { type Packet, type QoS, type UserProperties } from 'mqtt-packet';

/** mulberry32: a small 32-bit PRNG, plenty for choosing inputs. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/** The seed of connection `index` of a run: independent of timing, so one connection can be replayed alone. */
export function connectionSeed(runSeed: number, index: number): number {
  // splitmix32-style finaliser over (seed, index)
  let h = (runSeed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A seed from the environment: decimal or 0x-hex, else `fallback`.
 * @throws RangeError when `text` is set but is not a 32-bit unsigned integer.
 */
export function parseSeed(text: string | undefined, fallback: number): number {
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text.trim());
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`ROOST_FUZZ_SEED: expected an integer 0–4294967295 (decimal or 0x hex), got "${text}"`);
  }
  return value;
}

export type FuzzProtocol = 'mqtt' | 'stomp';
export type FuzzTransport = 'tcp' | 'ws';

/** What one fuzz connection does: which endpoint, and the writes it makes, in order. */
export interface FuzzPlan {
  readonly protocol: FuzzProtocol;
  readonly transport: FuzzTransport;
  /** One line saying what was generated, for failure reports. */
  readonly description: string;
  /** Units of input (packets or frames, a blob of random bytes counts as one). */
  readonly units: number;
  /** Each is one socket write (or one WebSocket message). */
  readonly writes: readonly Buffer[];
  /** Pause before each write, ms (same length as `writes`). */
  readonly pausesMs: readonly number[];
  /** How long to keep the connection after the last write before hanging up, unless the broker closes it first, ms. */
  readonly lingerMs: number;
  /** WebSocket only: send as text frames instead of binary. */
  readonly wsText: boolean;
}

// ---------------------------------------------------------------- names

const LEVEL_CHARS = ['a', 'b', 'c', '0', '1', 'é', '€', ' ', '-', '𝄞'];

function topicLevel(rng: Rng): string {
  let s = '';
  const n = rng.range(0, 4);
  for (let i = 0; i < n; i++) s += rng.pick(LEVEL_CHARS);
  return s;
}

/** A topic name the fuzzers publish to: always under `fz`. */
export function fuzzTopic(rng: Rng): string {
  const levels = ['fz'];
  const n = rng.range(0, 4);
  for (let i = 0; i < n; i++) levels.push(topicLevel(rng));
  if (rng.chance(0.02)) levels.push('x'.repeat(rng.range(100, 3000)));
  return levels.join('/');
}

/** A topic filter: mostly under `fz`, sometimes the broad ones every broker must survive. */
export function fuzzFilter(rng: Rng): string {
  const roll = rng.float();
  if (roll < 0.05) return '#';
  if (roll < 0.08) return '+/+';
  if (roll < 0.1) return '$SYS/#';
  if (roll < 0.15) return `$share/${rng.pick(['g', 'h', ''])}/fz/#`;
  if (roll < 0.2) return rng.pick(['fz/#/x', 'fz/a+', 'fz/#/#', '', '+#', 'fz/\u0000']);
  const levels = fuzzTopic(rng).split('/');
  for (let i = 1; i < levels.length; i++) if (rng.chance(0.2)) levels[i] = '+';
  if (rng.chance(0.3)) levels.push('#');
  return levels.join('/');
}

function clientId(rng: Rng): string {
  const roll = rng.float();
  if (roll < 0.2) return '';
  if (roll < 0.23) return `fz-${'i'.repeat(rng.range(200, 400))}`;
  return `fz-${rng.int(40)}`;
}

function userProperties(rng: Rng): UserProperties {
  const props: UserProperties = {};
  const n = rng.range(0, 3);
  for (let i = 0; i < n; i++) props[`k${rng.int(3)}`] = rng.chance(0.3) ? ['v1', 'v2'] : topicLevel(rng);
  return props;
}

function payload(rng: Rng): Buffer {
  const roll = rng.float();
  if (roll < 0.5) return rng.bytes(rng.int(32));
  if (roll < 0.98) return rng.bytes(rng.int(2048));
  return Buffer.alloc(rng.range(16_384, 100_000), 0x61);
}

// ---------------------------------------------------------------- MQTT

type MqttVersion = 3 | 4 | 5;

function mqttConnect(rng: Rng, version: MqttVersion): Packet {
  const packet: Packet = {
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clientId: clientId(rng),
    clean: rng.chance(0.8),
    keepalive: rng.pick([0, 1, 5, 60, 65535]),
  };
  if (rng.chance(0.2)) packet.username = rng.pick(['fz', '', 'admin']);
  if (rng.chance(0.1)) packet.password = rng.bytes(rng.int(16));
  if (rng.chance(0.15)) {
    const retain = rng.chance(0.3);
    packet.will = { topic: retain ? `fz/r/${rng.int(64)}` : fuzzTopic(rng), payload: payload(rng), qos: rng.pick([0, 1, 2] as const), retain };
    if (version === 5 && rng.chance(0.5)) packet.will.properties = { willDelayInterval: rng.pick([0, 1, 3600]), userProperties: userProperties(rng) };
  }
  if (version === 5 && rng.chance(0.6)) {
    packet.properties = {};
    if (rng.chance(0.5)) packet.properties.sessionExpiryInterval = rng.pick([0, 1, 60, 0xffffffff]);
    if (rng.chance(0.4)) packet.properties.receiveMaximum = rng.pick([1, 2, 10, 65535]);
    if (rng.chance(0.3)) packet.properties.maximumPacketSize = rng.pick([1, 20, 128, 1_048_576]);
    if (rng.chance(0.4)) packet.properties.topicAliasMaximum = rng.pick([0, 1, 10]);
    if (rng.chance(0.2)) packet.properties.requestProblemInformation = rng.chance(0.5);
    if (rng.chance(0.2)) packet.properties.userProperties = userProperties(rng);
    if (rng.chance(0.05)) packet.properties.authenticationMethod = 'fz-auth';
  }
  return packet;
}

function mqttPublish(rng: Rng, version: MqttVersion, messageId: number): Packet {
  const qos = rng.pick([0, 1, 2] as const);
  const retain = rng.chance(0.1);
  // Retained topics are broker state kept for ever: a bounded set of them, so memory growth over a long run means a leak.
  const topic = retain ? `fz/r/${rng.int(64)}` : fuzzTopic(rng);
  const packet: Packet = { cmd: 'publish', topic, payload: payload(rng), qos, dup: rng.chance(0.1), retain };
  if (qos > 0) packet.messageId = messageId;
  if (version === 5 && rng.chance(0.6)) {
    packet.properties = {};
    if (rng.chance(0.3)) packet.properties.payloadFormatIndicator = rng.chance(0.5);
    if (rng.chance(0.3)) packet.properties.messageExpiryInterval = rng.pick([0, 1, 3600]);
    if (rng.chance(0.3)) {
      packet.properties.topicAlias = rng.pick([0, 1, 2, 11, 65535]);
      if (rng.chance(0.5)) packet.topic = '';
    }
    if (rng.chance(0.3)) packet.properties.responseTopic = fuzzTopic(rng);
    if (rng.chance(0.3)) packet.properties.correlationData = rng.bytes(rng.int(16));
    if (rng.chance(0.3)) packet.properties.userProperties = userProperties(rng);
    if (rng.chance(0.1)) packet.properties.subscriptionIdentifier = rng.range(1, 268_435_455);
    if (rng.chance(0.3)) packet.properties.contentType = rng.pick(['text/plain', '', 'application/octet-stream']);
  }
  return packet;
}

function mqttSubscribe(rng: Rng, version: MqttVersion, messageId: number): Packet {
  const subscriptions = Array.from({ length: rng.range(1, 4) }, () => {
    const sub: { topic: string; qos: QoS; nl?: boolean; rap?: boolean; rh?: number } = { topic: fuzzFilter(rng), qos: rng.pick([0, 1, 2] as const) };
    if (version === 5) {
      sub.nl = rng.chance(0.2);
      sub.rap = rng.chance(0.2);
      sub.rh = rng.int(3);
    }
    return sub;
  });
  const packet: Packet = { cmd: 'subscribe', messageId, subscriptions };
  if (version === 5 && rng.chance(0.3)) packet.properties = { subscriptionIdentifier: rng.range(1, 268_435_455), userProperties: userProperties(rng) };
  return packet;
}

function mqttPacketAfterConnect(rng: Rng, version: MqttVersion, messageId: number): Packet {
  const roll = rng.float();
  if (roll < 0.4) return mqttPublish(rng, version, messageId);
  if (roll < 0.6) return mqttSubscribe(rng, version, messageId);
  if (roll < 0.67) return { cmd: 'unsubscribe', messageId, unsubscriptions: Array.from({ length: rng.range(1, 3) }, () => fuzzFilter(rng)) };
  if (roll < 0.75) return { cmd: 'pubrel', messageId: rng.chance(0.7) ? messageId - 1 : rng.range(1, 65535) };
  if (roll < 0.8) return { cmd: rng.pick(['puback', 'pubrec', 'pubcomp'] as const), messageId: rng.range(1, 65535) };
  if (roll < 0.9) return { cmd: 'pingreq' };
  if (roll < 0.93 && version === 5) return { cmd: 'auth', reasonCode: rng.pick([0, 0x18, 0x19]) };
  if (roll < 0.96) return mqttConnect(rng, version);
  const disconnect: Packet = { cmd: 'disconnect' };
  if (version === 5) {
    disconnect.reasonCode = rng.pick([0, 4, 0x80]);
    if (rng.chance(0.3)) disconnect.properties = { sessionExpiryInterval: rng.pick([0, 10]) };
  }
  return disconnect;
}

function encodeMqtt(packet: Packet, version: MqttVersion): Buffer | undefined {
  try {
    const bytes = mqttPacket.generate(packet, { protocolVersion: version });
    // The encoder answers some packets it refuses with no bytes rather than an error.
    return bytes.length > 0 ? bytes : undefined;
  } catch {
    // Some random property combinations are refused by the encoder itself.
    return undefined;
  }
}

/** Bytes where the remaining length of a packet starting at 0 ends (the variable header begins). */
function mqttHeaderLength(packet: Buffer): number {
  let at = 1;
  while (at < packet.length && at < 5 && ((packet[at] ?? 0) & 0x80) !== 0) at++;
  return at + 1;
}

const MQTT_MUTATIONS = ['bitflip', 'truncate', 'huge-length', 'bad-varint', 'flags', 'bad-utf8', 'splice', 'zero-length', 'type'] as const;
type MqttMutation = (typeof MQTT_MUTATIONS)[number];

/** One mutation of one encoded packet; `pool` supplies bytes from other packets. */
export function mutateMqtt(rng: Rng, packet: Buffer, pool: readonly Buffer[], which: MqttMutation = rng.pick(MQTT_MUTATIONS)): Buffer {
  const out = Buffer.from(packet);
  const headerEnd = mqttHeaderLength(out);
  switch (which) {
    case 'bitflip': {
      const flips = rng.range(1, 8);
      for (let i = 0; i < flips && out.length > 0; i++) {
        const at = rng.int(out.length);
        out[at] = (out[at] ?? 0) ^ (1 << rng.int(8));
      }
      return out;
    }
    case 'truncate':
      return out.subarray(0, rng.int(out.length));
    case 'huge-length':
      // Remaining length near the 268,435,455 ceiling [MQTT-2.2.3]; the body never follows in full.
      return Buffer.concat([Buffer.from([out[0] ?? 0x30]), Buffer.from(rng.pick([[0xff, 0xff, 0xff, 0x7f], [0x80, 0x80, 0x80, 0x01], [0xff, 0xff, 0x7f]])), out.subarray(headerEnd)]);
    case 'bad-varint':
      // Five continuation bytes: a malformed Variable Byte Integer [MQTT-1.5.5].
      return Buffer.concat([Buffer.from([out[0] ?? 0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]), out.subarray(headerEnd)]);
    case 'flags':
      out[0] = ((out[0] ?? 0) & 0xf0) | rng.int(16);
      return out;
    case 'bad-utf8': {
      // The first string of most packets sits right after the fixed header (PUBLISH topic, CONNECT protocol name).
      const bad = rng.pick([[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0x00], [0xf8, 0x88, 0x80, 0x80, 0x80]]);
      const at = headerEnd + 2 + rng.int(Math.max(1, out.length - headerEnd - 2));
      for (let i = 0; i < bad.length && at + i < out.length; i++) out[at + i] = bad[i] ?? 0;
      return out;
    }
    case 'splice': {
      const donor = pool.length > 0 ? rng.pick(pool) : rng.bytes(16);
      const from = rng.int(donor.length + 1);
      const piece = donor.subarray(from, from + rng.range(1, 64));
      const at = rng.int(out.length + 1);
      return Buffer.concat([out.subarray(0, at), piece, out.subarray(at + (rng.chance(0.5) ? piece.length : 0))]);
    }
    case 'zero-length':
      return Buffer.from([out[0] ?? 0, 0]);
    case 'type':
      // Types 0 and 15 are reserved [MQTT-2.2.1]; the others are server-to-client packets.
      out[0] = (rng.pick([0x00, 0x20, 0x90, 0xb0, 0xd0, 0xf0]) & 0xf0) | ((out[0] ?? 0) & 0x0f);
      return out;
  }
}

/** A plan for one MQTT connection. */
export function mqttPlan(rng: Rng, transport: FuzzTransport): FuzzPlan {
  const roll = rng.float();
  if (roll < 0.1) {
    const blob = rng.bytes(rng.range(1, 4096));
    return finishPlan(rng, 'mqtt', transport, `mqtt random ${blob.length} bytes`, 1, [blob]);
  }
  const version = rng.pick([3, 4, 4, 5, 5] as const);
  const packets: Buffer[] = [];
  const names: string[] = [];
  const connect = encodeMqtt(mqttConnect(rng, version), version);
  if (connect !== undefined) {
    packets.push(connect);
    names.push('connect');
  }
  const count = rng.range(0, 24);
  let messageId = rng.range(1, 65535);
  for (let i = 0; i < count; i++) {
    messageId = (messageId % 65535) + 1;
    const packet = mqttPacketAfterConnect(rng, version, messageId);
    const bytes = encodeMqtt(packet, version);
    if (bytes === undefined) continue;
    packets.push(bytes);
    names.push(packet.cmd);
  }
  if (roll < 0.15) {
    packets.push(rng.bytes(rng.range(1, 512)));
    names.push('random');
  }
  // Mutations: the CONNECT rarely (most connections should get past it), the rest often.
  for (let i = 0; i < packets.length; i++) {
    if (!rng.chance(i === 0 ? 0.1 : 0.25)) continue;
    const mutation = rng.pick(MQTT_MUTATIONS);
    packets[i] = mutateMqtt(rng, packets[i] ?? Buffer.alloc(0), packets, mutation);
    names[i] = `${names[i] ?? '?'}~${mutation}`;
  }
  if (packets.length > 2 && rng.chance(0.1)) {
    const a = rng.range(1, packets.length - 1);
    const b = rng.range(1, packets.length - 1);
    [packets[a], packets[b]] = [packets[b] ?? Buffer.alloc(0), packets[a] ?? Buffer.alloc(0)];
    names.push('reordered');
  }
  if (packets.length > 1 && rng.chance(0.1)) {
    const at = rng.range(1, packets.length - 1);
    const copies = rng.range(1, 50);
    const packet = packets[at] ?? Buffer.alloc(0);
    packets.splice(at, 0, ...Array.from({ length: copies }, () => packet));
    names.push(`dup×${copies}`);
  }
  return finishPlan(rng, 'mqtt', transport, `mqtt v${version} [${names.join(' ')}]`, packets.length, [Buffer.concat(packets)]);
}

// ---------------------------------------------------------------- STOMP

type StompHeaders = Array<[string, string]>;

function stompDestination(rng: Rng): string {
  const roll = rng.float();
  if (roll < 0.35) return `/topic/${fuzzTopic(rng)}`;
  if (roll < 0.65) return `/queue/fz.q${rng.int(4)}`;
  if (roll < 0.72) return `/temp-queue/fz${rng.int(3)}`;
  if (roll < 0.8) return `/topic/${fuzzFilter(rng)}`;
  return rng.pick(['/queue/', '/topic/', '/nowhere', '', '/queue/fz.\u0001', '/topic/$SYS/x', '/exchange/fz', `/queue/fz.${'q'.repeat(300)}`, '/topic/fz/#']);
}

function stompConnectHeaders(rng: Rng): StompHeaders {
  const headers: StompHeaders = [];
  if (rng.chance(0.9)) headers.push(['accept-version', rng.pick(['1.2', '1.1', '1.0', '1.0,1.1,1.2', '2.0', '', '1.2,'])]);
  if (rng.chance(0.8)) headers.push(['host', rng.pick(['roost', '', 'fz'])]);
  if (rng.chance(0.3)) headers.push(['heart-beat', rng.pick(['0,0', '10,10', '0,100', '100,0', 'x,y', '-1,5', '99999999999,1'])]);
  if (rng.chance(0.3)) headers.push(['client-id', `fz-${rng.int(10)}`]);
  if (rng.chance(0.1)) headers.push(['login', 'fz'], ['passcode', 'fz']);
  return headers;
}

interface StompFrameSpec {
  command: string;
  headers: StompHeaders;
  body: Buffer;
  /** Add a content-length header matching the body. */
  contentLength: boolean;
}

function stompFrameAfterConnect(rng: Rng, n: number): StompFrameSpec {
  const roll = rng.float();
  const headers: StompHeaders = [];
  const receipt = (): void => {
    if (rng.chance(0.4)) headers.push(['receipt', `r${n}`]);
  };
  let command: string;
  let body: Buffer = Buffer.alloc(0);
  if (roll < 0.35) {
    command = 'SEND';
    headers.push(['destination', stompDestination(rng)]);
    if (rng.chance(0.3)) headers.push(['persistent', 'true']);
    if (rng.chance(0.2)) headers.push(['transaction', `t${rng.int(3)}`]);
    if (rng.chance(0.1)) headers.push(['reply-to', stompDestination(rng)]);
    if (rng.chance(0.1)) headers.push(['expires', rng.pick(['0', '1', 'soon', String(Date.UTC(2030, 0))])]);
    if (rng.chance(0.2)) headers.push(['content-type', 'text/plain']);
    if (rng.chance(0.2)) headers.push(['x-fz', topicLevel(rng)]);
    body = payload(rng);
    receipt();
  } else if (roll < 0.55) {
    command = 'SUBSCRIBE';
    headers.push(['id', `s${rng.int(4)}`], ['destination', stompDestination(rng)]);
    if (rng.chance(0.8)) headers.push(['ack', rng.pick(['auto', 'client', 'client-individual', 'bogus'])]);
    if (rng.chance(0.1)) headers.push(['durable', 'true']);
    if (rng.chance(0.05)) headers.push(['activemq.subscriptionName', `fz${rng.int(3)}`]);
    if (rng.chance(0.1)) headers.push([rng.pick(['prefetch-count', 'activemq.prefetchSize']), rng.pick(['0', '1', '-1', 'x', '99999999'])]);
    receipt();
  } else if (roll < 0.62) {
    command = 'UNSUBSCRIBE';
    headers.push(['id', `s${rng.int(4)}`]);
    if (rng.chance(0.1)) headers.push(['durable', 'true']);
    receipt();
  } else if (roll < 0.72) {
    command = rng.pick(['ACK', 'NACK']);
    // The broker's ack ids are unknown here: plausible and implausible ones.
    headers.push(['id', rng.pick([`${rng.int(100)}`, 'x', '', `fz-${rng.int(5)}-${rng.int(10)}`])]);
    if (rng.chance(0.2)) headers.push(['transaction', `t${rng.int(3)}`]);
    if (rng.chance(0.1)) headers.push(['subscription', `s${rng.int(4)}`], ['message-id', String(rng.int(100))]);
    receipt();
  } else if (roll < 0.87) {
    command = rng.pick(['BEGIN', 'COMMIT', 'ABORT']);
    if (rng.chance(0.95)) headers.push(['transaction', `t${rng.int(3)}`]);
    receipt();
  } else if (roll < 0.93) {
    command = rng.pick(['CONNECT', 'STOMP', 'MESSAGE', 'RECEIPT', 'ERROR', 'CONNECTED', 'FROB', 'send']);
  } else {
    command = 'DISCONNECT';
    receipt();
  }
  return { command, headers, body, contentLength: body.length > 0 && rng.chance(0.6) };
}

function encodeStomp(frame: StompFrameSpec): Buffer {
  const escape = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/:/g, '\\c');
  let head = `${frame.command}\n`;
  for (const [name, value] of frame.headers) head += `${escape(name)}:${escape(value)}\n`;
  if (frame.contentLength) head += `content-length:${frame.body.length}\n`;
  return Buffer.concat([Buffer.from(`${head}\n`), frame.body, Buffer.from([0])]);
}

const STOMP_MUTATIONS = ['bitflip', 'truncate', 'no-nul', 'bad-escape', 'bad-utf8', 'huge-content-length', 'bad-content-length', 'long-line', 'many-headers', 'cr', 'splice', 'lowercase'] as const;
type StompMutation = (typeof STOMP_MUTATIONS)[number];

/** One mutation of one encoded frame; `pool` supplies bytes from other frames. */
export function mutateStomp(rng: Rng, frame: Buffer, pool: readonly Buffer[], which: StompMutation = rng.pick(STOMP_MUTATIONS)): Buffer {
  const headEnd = Math.max(0, frame.indexOf('\n\n'));
  const insertInHead = (bytes: Buffer): Buffer => {
    const firstLf = frame.indexOf('\n');
    const at = firstLf < 0 ? frame.length : firstLf + 1;
    return Buffer.concat([frame.subarray(0, at), bytes, frame.subarray(at)]);
  };
  switch (which) {
    case 'bitflip': {
      const out = Buffer.from(frame);
      const flips = rng.range(1, 6);
      for (let i = 0; i < flips && out.length > 0; i++) {
        const at = rng.int(out.length);
        out[at] = (out[at] ?? 0) ^ (1 << rng.int(8));
      }
      return out;
    }
    case 'truncate':
      return frame.subarray(0, rng.int(frame.length));
    case 'no-nul':
      return frame[frame.length - 1] === 0 ? frame.subarray(0, frame.length - 1) : frame;
    case 'bad-escape':
      // STOMP 1.2 "Value Encoding": an undefined escape is a fatal protocol error.
      return insertInHead(Buffer.from(`x-fz:${rng.pick(['a\\tb', 'a\\', '\\x41', 'a\\\\\\', '\\'])}\n`));
    case 'bad-utf8':
      return insertInHead(Buffer.concat([Buffer.from('x-fz:'), Buffer.from(rng.pick([[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0x80]])), Buffer.from('\n')]));
    case 'huge-content-length':
      return insertInHead(Buffer.from(`content-length:${rng.pick(['999999999999', '268435457', '9007199254740993', '1' + '0'.repeat(40)])}\n`));
    case 'bad-content-length':
      return insertInHead(Buffer.from(`content-length:${rng.pick(['-1', 'x', '1e3', ' 5', '0x10', '', String(rng.int(100))])}\n`));
    case 'long-line':
      return insertInHead(Buffer.from(`x-fz:${'l'.repeat(rng.pick([8_000, 8_200, 70_000]))}\n`));
    case 'many-headers':
      return insertInHead(Buffer.from(Array.from({ length: rng.pick([127, 129, 1000]) }, (_, i) => `h${i}:v\n`).join('')));
    case 'cr': {
      const out = Buffer.from(frame);
      const at = rng.int(Math.max(1, headEnd));
      if (at < out.length) out[at] = 0x0d;
      return out;
    }
    case 'splice': {
      const donor = pool.length > 0 ? rng.pick(pool) : rng.bytes(16);
      const from = rng.int(donor.length + 1);
      const piece = donor.subarray(from, from + rng.range(1, 64));
      const at = rng.int(frame.length + 1);
      return Buffer.concat([frame.subarray(0, at), piece, frame.subarray(at)]);
    }
    case 'lowercase':
      return Buffer.from(frame.toString('latin1').replace(/^[A-Z]+/, (c) => c.toLowerCase()), 'latin1');
  }
}

/** A plan for one STOMP connection. */
export function stompPlan(rng: Rng, transport: FuzzTransport): FuzzPlan {
  const roll = rng.float();
  if (roll < 0.08) {
    const blob = rng.bytes(rng.range(1, 4096));
    return finishPlan(rng, 'stomp', transport, `stomp random ${blob.length} bytes`, 1, [blob]);
  }
  const frames: Buffer[] = [];
  const names: string[] = [];
  if (rng.chance(0.95)) {
    frames.push(encodeStomp({ command: rng.chance(0.85) ? 'CONNECT' : 'STOMP', headers: stompConnectHeaders(rng), body: Buffer.alloc(0), contentLength: false }));
    names.push('CONNECT');
  }
  const count = rng.range(0, 24);
  for (let i = 0; i < count; i++) {
    if (rng.chance(0.05)) {
      frames.push(Buffer.from(rng.pick(['\n', '\r\n', '\n\n\n'])));
      names.push('EOL');
      continue;
    }
    const spec = stompFrameAfterConnect(rng, i);
    frames.push(encodeStomp(spec));
    names.push(spec.command);
  }
  for (let i = 0; i < frames.length; i++) {
    if (!rng.chance(i === 0 ? 0.08 : 0.2)) continue;
    const mutation = rng.pick(STOMP_MUTATIONS);
    frames[i] = mutateStomp(rng, frames[i] ?? Buffer.alloc(0), frames, mutation);
    names[i] = `${names[i] ?? '?'}~${mutation}`;
  }
  if (frames.length > 2 && rng.chance(0.1)) {
    const a = rng.range(1, frames.length - 1);
    const b = rng.range(1, frames.length - 1);
    [frames[a], frames[b]] = [frames[b] ?? Buffer.alloc(0), frames[a] ?? Buffer.alloc(0)];
    names.push('reordered');
  }
  if (frames.length > 1 && rng.chance(0.1)) {
    const at = rng.range(1, frames.length - 1);
    const copies = rng.range(1, 50);
    const frame = frames[at] ?? Buffer.alloc(0);
    frames.splice(at, 0, ...Array.from({ length: copies }, () => frame));
    names.push(`dup×${copies}`);
  }
  if (roll < 0.12) {
    frames.push(rng.bytes(rng.range(1, 512)));
    names.push('random');
  }
  return finishPlan(rng, 'stomp', transport, `stomp [${names.join(' ')}]`, frames.length, [Buffer.concat(frames)]);
}

// ---------------------------------------------------------------- plans

/** Splits the stream into writes at random offsets and picks the pacing. */
function finishPlan(rng: Rng, protocol: FuzzProtocol, transport: FuzzTransport, description: string, units: number, parts: Buffer[]): FuzzPlan {
  const stream = Buffer.concat(parts);
  const writes: Buffer[] = [];
  const pieces = stream.length === 0 ? 0 : rng.chance(0.5) ? 1 : rng.range(2, 8);
  const cuts = new Set<number>();
  for (let i = 1; i < pieces; i++) cuts.add(rng.range(1, Math.max(1, stream.length - 1)));
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut <= from || cut >= stream.length) continue;
    writes.push(stream.subarray(from, cut));
    from = cut;
  }
  if (from < stream.length) writes.push(stream.subarray(from));
  const pausesMs = writes.map(() => (rng.chance(0.7) ? 0 : rng.int(30)));
  const lingerMs = rng.chance(0.1) ? rng.range(300, 1500) : rng.int(150);
  return { protocol, transport, description, units, writes, pausesMs, lingerMs, wsText: transport === 'ws' && protocol === 'stomp' && rng.chance(0.5) };
}

/** The plan of one fuzz connection: protocol and transport chosen by `rng` (WebSocket for about 1 in 8). */
export function fuzzPlan(rng: Rng): FuzzPlan {
  const transport: FuzzTransport = rng.chance(0.125) ? 'ws' : 'tcp';
  return rng.chance(0.5) ? mqttPlan(rng, transport) : stompPlan(rng, transport);
}
