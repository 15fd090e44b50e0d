import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { Rng, connectionSeed, fuzzFilter, fuzzPlan, fuzzTopic, mqttPlan, mutateMqtt, parseSeed, stompPlan } from '../helpers/fuzz-gen.js';

describe('fuzz generators', () => {
  it('mulberry32 gives the same stream for the same seed, another for another', () => {
    const draw = (seed: number): number[] => {
      const rng = new Rng(seed);
      return Array.from({ length: 8 }, () => rng.next());
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
    const rng = new Rng(3);
    for (let i = 0; i < 1_000; i++) {
      const f = rng.float();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
      expect(rng.range(-2, 2)).toBeGreaterThanOrEqual(-2);
    }
  });

  it('derives per-connection seeds that do not depend on order', () => {
    expect(connectionSeed(42, 7)).toBe(connectionSeed(42, 7));
    const seeds = new Set(Array.from({ length: 1_000 }, (_, i) => connectionSeed(42, i)));
    expect(seeds.size).toBe(1_000);
    expect(connectionSeed(42, 0)).not.toBe(connectionSeed(43, 0));
  });

  it('reads a seed as decimal or hex, and refuses anything else', () => {
    expect(parseSeed(undefined, 5)).toBe(5);
    expect(parseSeed(' ', 5)).toBe(5);
    expect(parseSeed('123', 5)).toBe(123);
    expect(parseSeed('0xff', 5)).toBe(255);
    expect(() => parseSeed('abc', 5)).toThrow(RangeError);
    expect(() => parseSeed('-1', 5)).toThrow(RangeError);
    expect(() => parseSeed('4294967296', 5)).toThrow(RangeError);
  });

  it('replays a plan byte for byte from its seed', () => {
    for (let i = 0; i < 50; i++) {
      const a = fuzzPlan(new Rng(connectionSeed(9, i)));
      const b = fuzzPlan(new Rng(connectionSeed(9, i)));
      expect(Buffer.concat(b.writes).equals(Buffer.concat(a.writes))).toBe(true);
      expect(b.description).toBe(a.description);
      expect(a.pausesMs).toHaveLength(a.writes.length);
    }
  });

  it('keeps every generated name under fz, away from the well-behaved clients', () => {
    const rng = new Rng(11);
    for (let i = 0; i < 2_000; i++) {
      expect(fuzzTopic(rng).startsWith('fz')).toBe(true);
      const filter = fuzzFilter(rng);
      // Wildcards may match anything, which is allowed: they only receive.
      expect(/^(fz|#|\+|\$SYS|\$share|$)/.test(filter)).toBe(true);
    }
    for (let i = 0; i < 300; i++) {
      const plan = fuzzPlan(new Rng(connectionSeed(12, i)));
      expect(Buffer.concat(plan.writes).includes('roost-watch')).toBe(false);
    }
  });

  it('never plans an empty write', () => {
    for (let i = 0; i < 100; i++) {
      const plan = i % 2 === 0 ? mqttPlan(new Rng(i), 'tcp') : stompPlan(new Rng(i), 'ws');
      expect(plan.writes.every((w) => w.length > 0)).toBe(true);
      expect(plan.units).toBeGreaterThanOrEqual(0);
    }
  });

  it('produces a CONNECT the reference parser reads back when left unmutated', () => {
    let parsed = 0;
    for (let i = 0; i < 1_000; i++) {
      const plan = mqttPlan(new Rng(connectionSeed(13, i)), 'tcp');
      if (/~|random|reordered|dup×/.test(plan.description) || !plan.description.includes('[connect')) continue;
      const version = Number(/v(\d)/.exec(plan.description)?.[1]);
      const parser = mqttPacket.parser({ protocolVersion: version });
      const got: Packet[] = [];
      parser.on('packet', (p: Packet) => got.push(p));
      // Some unmutated packets are invalid on purpose (U+0000 in a filter): the CONNECT at least reads back.
      parser.on('error', () => undefined);
      parser.parse(Buffer.concat(plan.writes));
      expect(got[0]?.cmd, plan.description).toBe('connect');
      parsed++;
    }
    expect(parsed).toBeGreaterThan(20);
  });

  it('mutates without throwing, whatever the packet', () => {
    const rng = new Rng(14);
    const packet = mqttPacket.generate({ cmd: 'publish', topic: 'fz/a', payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false });
    for (let i = 0; i < 1_000; i++) expect(Buffer.isBuffer(mutateMqtt(rng, i % 3 === 0 ? Buffer.alloc(0) : packet, [packet]))).toBe(true);
  });
});
