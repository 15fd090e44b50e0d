import { describe, expect, it } from 'vitest';
import type { BenchOptions } from '../../bench/scenario.js';
import { chooseTargets, limitNote, numberFlag } from '../../bench/scenarios/each-target.js';

const base: BenchOptions = { host: '127.0.0.1', port: undefined, durationMs: 5_000, compare: false, extra: {} };

describe('chooseTargets', () => {
  it('runs roost alone, or with every reference under --compare', () => {
    expect(chooseTargets(base)).toEqual(['roost']);
    expect(chooseTargets({ ...base, compare: true })).toEqual(['roost', 'aedes', 'mosquitto']);
  });

  it('measures only the external broker when a port is given', () => {
    expect(chooseTargets({ ...base, port: 1883, compare: true })).toEqual(['external']);
  });

  it('takes an explicit --targets list and rejects unknown names', () => {
    expect(chooseTargets({ ...base, extra: { targets: 'aedes, mosquitto' } })).toEqual(['aedes', 'mosquitto']);
    expect(() => chooseTargets({ ...base, extra: { targets: 'aedes,hivemq' } })).toThrow(/unknown target "hivemq"/);
  });
});

describe('numberFlag', () => {
  it('reads a positive number, falls back when absent, and rejects the rest', () => {
    expect(numberFlag({ ...base, extra: { rate: '200' } }, 'rate', 5_000)).toBe(200);
    expect(numberFlag(base, 'rate', 5_000)).toBe(5_000);
    expect(() => numberFlag({ ...base, extra: { rate: true } }, 'rate', 1)).toThrow(/--rate/);
    expect(() => numberFlag({ ...base, extra: { rate: '0' } }, 'rate', 1)).toThrow(/positive/);
    expect(numberFlag({ ...base, extra: { wait: '0' } }, 'wait', 1, true)).toBe(0);
  });
});

describe('limitNote', () => {
  it('names the saturated process', () => {
    expect(limitNote({ generator: 40, broker: 99 }, 2)).toBe('broker CPU (99% of a core)');
    expect(limitNote({ generator: 95, broker: 60 }, 2)).toBe('generator CPU (95% of a core)');
    expect(limitNote({ generator: 85, broker: 99 }, 2)).toBe('broker CPU (99% of a core); generator close behind (85%)');
  });

  it('says when neither was saturated, and when other processes interfered', () => {
    expect(limitNote({ generator: 10, broker: 20 }, 2)).toMatch(/^neither process CPU-bound/);
    expect(limitNote({ generator: 10, broker: 20, others: 60 }, 2)).toMatch(/other processes on the machine used 60%/);
  });

  it('cannot judge the broker without its pid', () => {
    expect(limitNote({ generator: 30 }, 2)).toMatch(/broker CPU unknown/);
  });
});
