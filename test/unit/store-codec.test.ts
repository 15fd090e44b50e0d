import { describe, expect, it } from 'vitest';
import { hasCode } from '../../src/core/errors.js';
import { decodeRecord, encodeRecord } from '../../src/store/codec.js';

function roundTrip<T>(value: T): unknown {
  return decodeRecord(encodeRecord(value));
}

describe('store codec', () => {
  it('round-trips an MQTT 5 packet exactly, Buffers as Buffers', () => {
    const packet = {
      cmd: 'publish',
      topic: 'site/7/dev/42/temp',
      payload: Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]),
      qos: 1,
      retain: true,
      dup: false,
      messageId: 65535,
      brokerId: 'broker-1',
      brokerCounter: 2 ** 40 + 3,
      messageExpiry: 1_790_000_000_123,
      properties: {
        payloadFormatIndicator: false,
        messageExpiryInterval: 3600,
        contentType: 'application/json',
        responseTopic: 'replies/ünï',
        correlationData: Buffer.from('corr-\u0000-id'),
        userProperties: { region: 'eu', tags: ['a', 'b', ''], '': 'empty key' },
        subscriptionIdentifier: [1, 268_435_455],
      },
    };
    const back = roundTrip(packet) as typeof packet;
    expect(back).toStrictEqual(packet);
    expect(Buffer.isBuffer(back.payload)).toBe(true);
    expect(Buffer.isBuffer(back.properties.correlationData)).toBe(true);
    expect(back.payload.equals(packet.payload)).toBe(true);
  });

  it('keeps undefined fields, null, strings vs Buffers, and number kinds', () => {
    const value = { messageId: undefined, a: null, s: 'world', b: Buffer.alloc(0), n: -42, f: 0.5, big: Number.MAX_SAFE_INTEGER, neg0: -0, inf: Infinity };
    const back = roundTrip(value) as Record<string, unknown>;
    expect(Object.keys(back)).toEqual(Object.keys(value));
    expect(back).toStrictEqual(value);
    expect(typeof back['s']).toBe('string');
    expect(Object.is(back['neg0'], -0)).toBe(true);
  });

  it('spells out unknown keys, keeps "__proto__" as data, and skips functions', () => {
    const value = JSON.parse('{"custom-field":{"deep":[1,{"x":"y"}]},"__proto__":{"polluted":true}}') as Record<string, unknown>;
    const withFn = { ...value, writeCallback: () => undefined };
    const back = roundTrip(withFn) as Record<string, unknown>;
    expect(back['custom-field']).toEqual({ deep: [1, { x: 'y' }] });
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(back, '__proto__')).toBe(true);
    expect('writeCallback' in back).toBe(false);
  });

  it('stores a known key in one byte (smaller than JSON for a packet)', () => {
    const packet = { cmd: 'publish', topic: 'a/b', payload: Buffer.from('hi'), qos: 1, retain: false, dup: false, brokerId: 'b', brokerCounter: 7 };
    expect(encodeRecord(packet).length).toBeLessThan(JSON.stringify(packet).length / 2);
  });

  it('refuses damaged bytes with STORE_CORRUPT', () => {
    const good = encodeRecord({ topic: 'a', payload: Buffer.from('xyz') });
    for (const bad of [good.subarray(0, good.length - 2), Buffer.concat([good, Buffer.from([0])]), Buffer.from([9, 0]), Buffer.from([1, 99])]) {
      let err: unknown;
      try {
        decodeRecord(bad);
      } catch (e) {
        err = e;
      }
      expect(hasCode(err, 'STORE_CORRUPT')).toBe(true);
    }
  });

  it('refuses values it cannot carry', () => {
    expect(() => encodeRecord({ n: 10n })).toThrow(/bigint/);
  });
});
