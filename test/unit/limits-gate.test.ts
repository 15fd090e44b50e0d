import { describe, expect, it } from 'vitest';
import { ConnectionGate } from '../../src/core/connection-gate.js';
import { PublishLimiter, TokenBucket } from '../../src/core/rate-limit.js';
import { StoreWatermark } from '../../src/core/store-limit.js';

function clock(startMs = 1_000): { now: () => number; advance: (ms: number) => void } {
  let nowMs = startMs;
  return { now: () => nowMs, advance: (ms) => (nowMs += ms) };
}

const OPEN = { maxConnections: 1_000, maxConnectionsPerIp: 1_000, connectionsPerIpPerSecond: 0 };

describe('ConnectionGate', () => {
  it('refuses past maxConnections, whatever the address, until a slot is released', () => {
    const gate = new ConnectionGate({ ...OPEN, maxConnections: 2 });
    const a = gate.admit('10.0.0.1');
    const b = gate.admit('10.0.0.2');
    expect(a.ok && b.ok).toBe(true);
    const refused = gate.admit('10.0.0.3');
    expect(refused).toMatchObject({ ok: false, reason: 'max-connections' });
    expect(gate.total).toBe(2);
    gate.release('10.0.0.1');
    expect(gate.total).toBe(1);
    // An address that holds no slot gives nothing back.
    gate.release('10.0.0.9');
    expect(gate.total).toBe(1);
    expect(gate.admit('10.0.0.3').ok).toBe(true);
  });

  it('refuses past maxConnectionsPerIp for that address only', () => {
    const gate = new ConnectionGate({ ...OPEN, maxConnectionsPerIp: 1 });
    const first = gate.admit('10.0.0.1');
    expect(first.ok).toBe(true);
    expect(gate.admit('10.0.0.1')).toMatchObject({ ok: false, reason: 'max-connections-per-ip' });
    expect(gate.admit('10.0.0.2').ok).toBe(true);
    expect(gate.countOf('10.0.0.1')).toBe(1);
    gate.release('10.0.0.1');
    expect(gate.countOf('10.0.0.1')).toBe(0);
    expect(gate.admit('10.0.0.1').ok).toBe(true);
  });

  it('limits new connections per address per second with a token bucket on the injected clock', () => {
    const time = clock();
    const gate = new ConnectionGate({ ...OPEN, connectionsPerIpPerSecond: 2 }, time.now);
    expect(gate.admit('10.0.0.1').ok).toBe(true);
    expect(gate.admit('10.0.0.1').ok).toBe(true);
    const refused = gate.admit('10.0.0.1');
    expect(refused).toMatchObject({ ok: false, reason: 'connection-rate', retryAfterSeconds: 1 });
    // Another address has its own bucket.
    expect(gate.admit('10.0.0.2').ok).toBe(true);
    time.advance(500);
    expect(gate.admit('10.0.0.1').ok).toBe(true);
    expect(gate.admit('10.0.0.1').ok).toBe(false);
    // A refused attempt holds no slot.
    expect(gate.countOf('10.0.0.1')).toBe(3);
  });
});

describe('TokenBucket and PublishLimiter', () => {
  it('admit the burst at once, then the rate', () => {
    const time = clock();
    const bucket = new TokenBucket(10, 3, time.now());
    expect([bucket.take(time.now()), bucket.take(time.now()), bucket.take(time.now()), bucket.take(time.now())]).toEqual([true, true, true, false]);
    expect(bucket.waitMs(time.now())).toBe(100);
    time.advance(100);
    expect(bucket.take(time.now())).toBe(true);
    expect(bucket.take(time.now())).toBe(false);
    time.advance(10_000);
    expect(bucket.isFull(time.now())).toBe(true);
  });

  it('refuse a bucket that could never admit anything', () => {
    expect(() => new TokenBucket(0, 1, 0)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0, 0)).toThrow(RangeError);
  });

  it('admits everything when the rate is 0', () => {
    const limiter = new PublishLimiter({ publishesPerSecond: 0, publishBurst: 1 });
    for (let i = 0; i < 1_000; i++) expect(limiter.admit()).toBe(true);
  });

  it('refuses publishes past the burst until time passes', () => {
    const time = clock();
    const limiter = new PublishLimiter({ publishesPerSecond: 1, publishBurst: 2 }, time.now);
    expect([limiter.admit(), limiter.admit(), limiter.admit()]).toEqual([true, true, false]);
    time.advance(1_000);
    expect(limiter.admit()).toBe(true);
  });
});

describe('StoreWatermark', () => {
  it('refuses while free space is under the floor or the store over its cap, and says when it flips', async () => {
    let free = 100;
    let size = 10;
    const changes: Array<string | undefined> = [];
    const watermark = new StoreWatermark({
      limits: { diskMinFreeBytes: 50, storeMaxBytes: 20 },
      probes: { freeBytes: async () => free, storeBytes: async () => size },
      onChange: (reason) => changes.push(reason),
    });
    await watermark.check();
    expect(watermark.refusal).toBeUndefined();
    free = 40;
    await watermark.check();
    expect(watermark.refusal).toMatch(/diskMinFreeBytes/);
    free = 100;
    size = 30;
    await watermark.check();
    expect(watermark.refusal).toMatch(/storeMaxBytes/);
    size = 10;
    await watermark.check();
    expect(watermark.refusal).toBeUndefined();
    expect(changes).toHaveLength(2);
    expect(changes[1]).toBeUndefined();
  });

  it('keeps its state when a probe fails, and does nothing when both limits are 0', async () => {
    let fail = false;
    const watermark = new StoreWatermark({
      limits: { diskMinFreeBytes: 50, storeMaxBytes: 0 },
      probes: {
        freeBytes: async () => {
          if (fail) throw new Error('EIO');
          return 1;
        },
        storeBytes: async () => 0,
      },
    });
    await watermark.check();
    expect(watermark.refusal).toBeDefined();
    fail = true;
    await watermark.check();
    expect(watermark.refusal).toBeDefined();
    const off = new StoreWatermark({ limits: { diskMinFreeBytes: 0, storeMaxBytes: 0 }, probes: { freeBytes: async () => 0, storeBytes: async () => 0 } });
    expect(off.disabled).toBe(true);
    await off.start();
    off.stop();
    expect(off.refusal).toBeUndefined();
  });
});
