import { describe, it, expect } from 'vitest';
import type { Message } from '../../src/core/message.js';
import { RoostError } from '../../src/core/errors.js';
import { DELIVERY_COUNT_HEADER, messageFrame, sendToMessage } from '../../protocols/stomp/adapter.js';
import type { MessageFrameContext, SendContext } from '../../protocols/stomp/adapter.js';
import { StompDecoder, encodeFrame, header } from '../../protocols/stomp/codec.js';
import type { StompFrame, StompVersion } from '../../protocols/stomp/codec.js';
import { DEFAULT_DESTINATION_OPTIONS } from '../../protocols/stomp/destinations.js';

const NOW = 1_700_000_000_000;

const context = (overrides: Partial<SendContext> = {}): SendContext => ({
  topic: 'a/b',
  nowMs: NOW,
  origin: { protocol: 'stomp', clientId: 'c1' },
  destinations: DEFAULT_DESTINATION_OPTIONS,
  sessionId: 'S1',
  ...overrides,
});

const send = (headers: ReadonlyArray<readonly [string, string]>, body: Buffer | string = ''): StompFrame => ({
  command: 'SEND',
  headers: [['destination', '/topic/a/b'], ...headers],
  body: typeof body === 'string' ? Buffer.from(body) : body,
});

const delivery = (overrides: Partial<MessageFrameContext> = {}): MessageFrameContext => ({
  version: '1.2',
  subscription: 'sub-1',
  messageId: 'S1-1',
  destination: '/topic/a/b',
  redelivered: false,
  deliveryCount: 1,
  dottedTopics: false,
  nowMs: NOW,
  ...overrides,
});

const mqttMessage = (overrides: Partial<Message> = {}): Message => ({
  cmd: 'publish',
  topic: 'a/b',
  payload: Buffer.from('x'),
  qos: 0,
  retain: false,
  ...overrides,
});

/** Every header of a frame as an object; the first of a repeated name wins, as a STOMP reader does. */
function headersOf(frame: StompFrame): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [n, v] of frame.headers) if (!(n in out)) out[n] = v;
  return out;
}

describe('SEND → Message', () => {
  it('maps custom headers to user properties, first of a repeated header winning', () => {
    const message = sendToMessage(send([['x-a', '1'], ['x-b', 'two'], ['x-a', 'ignored']]), context());
    expect(message.properties?.userProperties).toEqual({ 'x-a': '1', 'x-b': 'two' });
  });

  it('keeps a header named __proto__ as plain data', () => {
    const message = sendToMessage(send([['__proto__', 'x'], ['constructor', 'y']]), context());
    const user = message.properties?.userProperties as Record<string, string>;
    expect(Object.getPrototypeOf(user)).toBe(Object.prototype);
    expect(Object.keys(user).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(user, '__proto__')?.value).toBe('x');
  });

  it('never copies reserved headers into user properties', () => {
    const message = sendToMessage(
      send([
        ['receipt', 'r'],
        ['transaction', 't'],
        ['content-length', '0'],
        ['message-id', 'm'],
        ['subscription', 's'],
        ['ack', 'a'],
        ['id', 'i'],
        ['redelivered', 'true'],
        ['roost-delivery-count', '7'],
      ]),
      context(),
    );
    expect(message.properties?.userProperties).toBeUndefined();
  });

  it('maps content-type, correlation-id, reply-to, persistent and expires', () => {
    const message = sendToMessage(
      send([
        ['content-type', 'application/json;charset=utf-8'],
        ['correlation-id', 'ü-42'],
        ['reply-to', '/topic/replies/c1'],
        ['persistent', 'true'],
        ['expires', String(NOW + 2500)],
      ]),
      context(),
    );
    expect(message.properties?.contentType).toBe('application/json;charset=utf-8');
    expect(message.properties?.correlationData).toEqual(Buffer.from('ü-42', 'utf8'));
    expect(message.properties?.responseTopic).toBe('replies/c1');
    expect(message.qos).toBe(1);
    expect(message.messageExpiry).toBe(NOW + 2500);
    expect(message.properties?.messageExpiryInterval).toBe(3);
    expect(message.timestamp).toBe(NOW);
    expect(message.origin).toEqual({ protocol: 'stomp', clientId: 'c1' });
    expect(message.retain).toBe(false);
    expect(message.topic).toBe('a/b');
  });

  it('takes persistent other than "true" as QoS 0, and expires:0 as never', () => {
    const message = sendToMessage(send([['persistent', 'false'], ['expires', '0']]), context());
    expect(message.qos).toBe(0);
    expect(message.messageExpiry).toBeUndefined();
    expect(message.properties).toBeUndefined();
  });

  it('keeps a past expires, for the caller to drop', () => {
    const message = sendToMessage(send([['expires', String(NOW - 1)]]), context());
    expect(message.messageExpiry).toBe(NOW - 1);
    expect(message.properties?.messageExpiryInterval).toBeUndefined();
  });

  it('rejects an expires that is not epoch milliseconds', () => {
    expect(() => sendToMessage(send([['expires', 'tomorrow']]), context())).toThrow(RoostError);
    expect(() => sendToMessage(send([['expires', '-5']]), context())).toThrow(/expires/);
  });

  it('maps reply-to queues and this session’s temp queues', () => {
    expect(sendToMessage(send([['reply-to', '/queue/answers']]), context()).properties?.responseTopic).toBe('/queue/answers');
    expect(sendToMessage(send([['reply-to', '/temp-queue/r1']]), context()).properties?.responseTopic).toBe('/queue/temp.S1.r1');
    expect(() => sendToMessage(send([['reply-to', 'nowhere']]), context())).toThrow(/destination/);
  });

  it('maps a dotted reply-to when compatibility is on', () => {
    const destinations = { ...DEFAULT_DESTINATION_OPTIONS, dottedTopics: true };
    expect(sendToMessage(send([['reply-to', '/topic/x.y']]), context({ destinations })).properties?.responseTopic).toBe('x/y');
  });

  it('keeps binary bodies byte for byte, NULs and invalid UTF-8 included', () => {
    const body = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a, 0x00, 0xc3]);
    const message = sendToMessage(send([], body), context());
    expect(message.payload).toEqual(body);
  });
});

describe('Message → MESSAGE', () => {
  it('writes subscription, message-id, destination and content-length always, ack only in 1.2 when asked', () => {
    const frame = messageFrame(mqttMessage({ payload: Buffer.alloc(0) }), delivery({ ack: 'S1-1' }));
    expect(frame.command).toBe('MESSAGE');
    const h = headersOf(frame);
    expect(h).toMatchObject({ subscription: 'sub-1', 'message-id': 'S1-1', destination: '/topic/a/b', ack: 'S1-1', 'content-length': '0' });
    expect(h[DELIVERY_COUNT_HEADER]).toBe('1');
    expect(h['redelivered']).toBeUndefined();
    expect(headersOf(messageFrame(mqttMessage(), delivery({ version: '1.1', ack: 'S1-1' })))['ack']).toBeUndefined();
  });

  it('maps properties back: content-type, correlation-id, reply-to, expires, persistent, user properties', () => {
    const frame = messageFrame(
      mqttMessage({
        qos: 1,
        messageExpiry: NOW + 60_000,
        properties: {
          contentType: 'text/plain',
          correlationData: Buffer.from('corr'),
          responseTopic: 'replies/x',
          userProperties: { region: 'eu', multi: ['first', 'second'], destination: '/topic/hijack', 'roost-delivery-count': '99' },
        },
      }),
      delivery({ redelivered: true, deliveryCount: 3 }),
    );
    const h = headersOf(frame);
    expect(h).toMatchObject({
      'content-type': 'text/plain',
      'correlation-id': 'corr',
      'reply-to': '/topic/replies/x',
      expires: String(NOW + 60_000),
      persistent: 'true',
      redelivered: 'true',
      region: 'eu',
      multi: 'first',
      destination: '/topic/a/b',
      [DELIVERY_COUNT_HEADER]: '3',
    });
    expect(frame.headers.filter(([n]) => n === 'destination')).toHaveLength(1);
    expect(frame.headers.filter(([n]) => n === DELIVERY_COUNT_HEADER)).toHaveLength(1);
  });

  it('derives expires from an MQTT expiry interval and the message timestamp', () => {
    const frame = messageFrame(mqttMessage({ timestamp: NOW - 1000, properties: { messageExpiryInterval: 10 } }), delivery());
    expect(header(frame, 'expires')).toBe(String(NOW + 9000));
  });

  it('drops correlation data that is not UTF-8, and QoS 0 has no persistent header', () => {
    const frame = messageFrame(mqttMessage({ properties: { correlationData: Buffer.from([0xff, 0xfe]) } }), delivery());
    expect(header(frame, 'correlation-id')).toBeUndefined();
    expect(header(frame, 'persistent')).toBeUndefined();
  });

  it('keeps a queue reply-to as is, and writes a topic one dotted in compatibility mode', () => {
    expect(header(messageFrame(mqttMessage({ properties: { responseTopic: '/queue/temp.S1.r' } }), delivery()), 'reply-to')).toBe('/queue/temp.S1.r');
    expect(header(messageFrame(mqttMessage({ properties: { responseTopic: 'a/b/c' } }), delivery({ dottedTopics: true })), 'reply-to')).toBe('/topic/a.b.c');
  });

  it('drops headers the version cannot encode', () => {
    const message = mqttMessage({ properties: { userProperties: { 'line\nbreak': 'v', ok: 'multi\nline', cr: 'a\rb', 'we:ird': 'x' } } });
    const v10 = headersOf(messageFrame(message, delivery({ version: '1.0' })));
    expect(Object.keys(v10)).not.toContain('ok');
    expect(Object.keys(v10)).not.toContain('line\nbreak');
    expect(Object.keys(v10)).not.toContain('cr');
    // 1.0 has no escaping: a colon in a name cannot be written, in a value it can.
    expect(Object.keys(v10)).not.toContain('we:ird');
    const v11 = headersOf(messageFrame(message, delivery({ version: '1.1' })));
    expect(v11['ok']).toBe('multi\nline');
    expect(v11['we:ird']).toBe('x');
    expect(v11['cr']).toBeUndefined();
    const v12 = headersOf(messageFrame(message, delivery({ version: '1.2' })));
    expect(v12['cr']).toBe('a\rb');
    for (const version of ['1.0', '1.1', '1.2'] as StompVersion[]) {
      expect(() => encodeFrame(messageFrame(message, delivery({ version })), version)).not.toThrow();
    }
  });

  it('keeps binary bodies byte for byte through encode and decode, NULs included', () => {
    const body = Buffer.from([0x00, 0x01, 0xff, 0x00, 0x0a, 0x0d, 0x00]);
    for (const version of ['1.0', '1.1', '1.2'] as StompVersion[]) {
      const wire = encodeFrame(messageFrame(mqttMessage({ payload: body }), delivery({ version })), version);
      const decoder = new StompDecoder({ version });
      const [event] = decoder.push(wire);
      expect(event?.kind).toBe('frame');
      if (event?.kind !== 'frame') continue;
      expect(event.frame.body).toEqual(body);
      expect(header(event.frame, 'content-length')).toBe(String(body.length));
    }
  });
});

describe('round trip', () => {
  it('SEND → Message → MESSAGE carries every mapped header and custom header unchanged', () => {
    const headers: Array<[string, string]> = [
      ['content-type', 'application/octet-stream'],
      ['correlation-id', 'id:with:colons'],
      ['reply-to', '/queue/replies'],
      ['persistent', 'true'],
      ['expires', String(NOW + 5000)],
      ['x-trace', 'a\\b:c'],
      ['priority', '4'],
    ];
    const body = Buffer.from([0xde, 0xad, 0x00, 0xbe, 0xef]);
    const message = sendToMessage(send(headers, body), context());
    const frame = messageFrame(message, delivery());
    const wire = encodeFrame(frame, '1.2');
    const [event] = new StompDecoder({ version: '1.2' }).push(wire);
    if (event?.kind !== 'frame') throw new Error('no frame');
    const h = headersOf(event.frame);
    for (const [name, value] of headers) expect(h[name]).toBe(value);
    expect(event.frame.body).toEqual(body);
  });

  it('MQTT 5 message → MESSAGE → SEND → Message keeps the properties', () => {
    const original = mqttMessage({
      qos: 1,
      timestamp: NOW,
      messageExpiry: NOW + 30_000,
      properties: {
        contentType: 'text/csv',
        correlationData: Buffer.from('req-7'),
        responseTopic: 'devices/7/reply',
        userProperties: { unit: 'C', site: 'north' },
      },
    });
    const frame = messageFrame(original, delivery());
    // Re-sent as a SEND by a STOMP client that forwards what it received.
    const forwarded: StompFrame = {
      command: 'SEND',
      headers: frame.headers.filter(([n]) => !['subscription', 'message-id', 'ack'].includes(n)),
      body: frame.body,
    };
    const back = sendToMessage(forwarded, context());
    expect(back.qos).toBe(1);
    expect(back.messageExpiry).toBe(NOW + 30_000);
    expect(back.properties?.contentType).toBe('text/csv');
    expect(back.properties?.correlationData).toEqual(Buffer.from('req-7'));
    expect(back.properties?.responseTopic).toBe('devices/7/reply');
    expect(back.properties?.userProperties).toEqual({ unit: 'C', site: 'north' });
    expect(back.payload).toEqual(original.payload);
  });
});
