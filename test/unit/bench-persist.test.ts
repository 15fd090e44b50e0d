import { describe, expect, it } from 'vitest';
import { missingRuns, pct, quotaOf, seqForPacketId, splitFrames, tallyDrain, type Frame } from '../../bench/scenarios/mqtt-persist.js';

describe('seqForPacketId', () => {
  it('maps a packet id back to the newest sequence number sent with it', () => {
    // The publisher writes packet id seq % 65535 + 1.
    expect(seqForPacketId(1, 1)).toBe(0);
    expect(seqForPacketId(1, 100)).toBe(0);
    expect(seqForPacketId(100, 100)).toBe(99);
    expect(seqForPacketId(65_535, 65_535)).toBe(65_534);
    expect(seqForPacketId(1, 65_536)).toBe(65_535);
    expect(seqForPacketId(65_535, 65_600)).toBe(65_534);
    expect(seqForPacketId(2, 200_000)).toBe(196_606);
  });

  it('is -1 for an id nothing sent carries', () => {
    expect(seqForPacketId(5, 3)).toBe(-1);
    expect(seqForPacketId(1, 0)).toBe(-1);
    expect(seqForPacketId(0, 10)).toBe(-1);
    expect(seqForPacketId(65_536, 100_000)).toBe(-1);
  });

  it('round-trips every sequence number within a window', () => {
    for (const sent of [1, 99, 65_535, 65_536, 131_070, 250_001]) {
      for (let seq = Math.max(0, sent - 100); seq < sent; seq++) {
        expect(seqForPacketId((seq % 0xffff) + 1, sent)).toBe(seq);
      }
    }
  });
});

describe('splitFrames', () => {
  const puback = Buffer.from([0x40, 0x02, 0x00, 0x07]);
  // PUBLISH QoS 1, topic "a", packet id 9, payload "xyz".
  const publish = Buffer.from([0x32, 0x08, 0x00, 0x01, 0x61, 0x00, 0x09, 0x78, 0x79, 0x7a]);

  it('finds every complete frame and leaves a partial one', () => {
    const data = Buffer.concat([puback, publish, publish.subarray(0, 5)]);
    const frames: Frame[] = [];
    const used = splitFrames(data, (frame) => frames.push(frame));
    expect(used).toBe(puback.length + publish.length);
    expect(frames).toEqual([
      { start: 0, type: 4, flags: 0, bodyStart: 2, end: 4 },
      { start: 4, type: 3, flags: 2, bodyStart: 6, end: 14 },
    ]);
  });

  it('reads a multi-byte remaining length', () => {
    const body = Buffer.alloc(200, 1);
    const frame = Buffer.concat([Buffer.from([0x30, 0xc8, 0x01]), body]);
    const frames: Frame[] = [];
    expect(splitFrames(frame, (f) => frames.push(f))).toBe(203);
    expect(frames[0]).toEqual({ start: 0, type: 3, flags: 0, bodyStart: 3, end: 203 });
    expect(splitFrames(frame.subarray(0, 2), () => undefined)).toBe(0);
  });

  it('refuses a remaining length longer than four bytes', () => {
    expect(() => splitFrames(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), () => undefined)).toThrow(RangeError);
  });
});

describe('tallyDrain and missingRuns', () => {
  it('counts delivered, undelivered, unacknowledged and duplicate messages', () => {
    const acked = [Uint8Array.from([1, 1, 1, 0]), Uint8Array.from([1, 1])];
    const received = [Uint8Array.from([1, 0, 3, 1]), Uint8Array.from([0, 0])];
    expect(tallyDrain(acked, received)).toEqual({ acked: 5, deliveredAcked: 2, deliveredUnacked: 1, duplicates: 2 });
    expect(missingRuns(acked, received, 5)).toEqual(['p0:1', 'p1:0-1']);
    expect(missingRuns(acked, received, 1)).toEqual(['p0:1']);
  });

  it('gives percentages and splits quotas', () => {
    expect(pct(3, 4)).toBe(75);
    expect(pct(1, 3)).toBe(33.33);
    expect(pct(0, 0)).toBe(0);
    expect([0, 1, 2].map((p) => quotaOf(p, 10, 3))).toEqual([4, 3, 3]);
    expect([0, 1, 2].map((p) => quotaOf(p, 100_000, 3)).reduce((a, b) => a + b)).toBe(100_000);
  });
});
