import { describe, expect, it } from 'vitest';
import { LatencyRecorder, lossPct, percentile, SeqTracker } from '../../bench/stats.js';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('returns a measured value at each rank', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 99.9)).toBe(100);
    expect(percentile(hundred, 0.1)).toBe(1);
  });

  it('handles a single sample and small sets', () => {
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([1, 2, 3], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
  });

  it('rejects no samples and out-of-range p', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });
});

describe('LatencyRecorder', () => {
  it('summarises what it kept and counts what did not fit', () => {
    const recorder = new LatencyRecorder(4);
    for (const value of [3, 1, 4, 2, 9]) recorder.record(value);
    expect(recorder.count).toBe(4);
    expect(recorder.overflow).toBe(1);
    expect(recorder.summary()).toEqual({ p50Ms: 2, p99Ms: 4, p999Ms: 4, maxMs: 4 });
  });

  it('has no summary without samples', () => {
    expect(new LatencyRecorder(10).summary()).toBeUndefined();
  });
});

describe('SeqTracker', () => {
  it('counts distinct and repeated sequence numbers in any order', () => {
    const tracker = new SeqTracker();
    for (const seq of [0, 2, 1, 2, 0, 5]) tracker.mark(seq);
    expect(tracker.unique).toBe(4);
    expect(tracker.duplicates).toBe(2);
  });

  it('grows past its initial capacity', () => {
    const tracker = new SeqTracker();
    expect(tracker.mark(1_000_000)).toBe(true);
    expect(tracker.mark(1_000_000)).toBe(false);
    expect(tracker.mark(31)).toBe(true);
    expect(tracker.unique).toBe(2);
  });
});

describe('lossPct', () => {
  it('is the share of sent messages that never arrived', () => {
    expect(lossPct(1000, 1000)).toBe(0);
    expect(lossPct(1000, 999)).toBe(0.1);
    expect(lossPct(3, 2)).toBe(33.3333);
    expect(lossPct(0, 0)).toBe(0);
  });
});
