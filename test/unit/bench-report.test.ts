import { describe, expect, it } from 'vitest';
import { compareResults, formatNumber, renderTable } from '../../bench/report.js';
import type { BenchResult } from '../../bench/scenario.js';

const results: BenchResult[] = [
  { scenario: 's', target: 'roost', figures: { deliveredPerSec: 50_000, lossPct: 0 }, notes: { brokerCpuPct: 99, generatorCpuPct: 40 } },
  { scenario: 's', target: 'aedes', figures: { deliveredPerSec: 40_000, lossPct: 0 } },
  { scenario: 's', target: 'mosquitto', figures: {}, notes: { skipped: 'mosquitto not installed' } },
];

describe('compareResults', () => {
  it('divides each roost figure by the same figure of each reference that ran', () => {
    expect(compareResults(results)).toEqual([{ scenario: 's', target: 'roost/aedes', figures: { deliveredPerSec: 1.25 } }]);
  });

  it('compares only within a scenario', () => {
    const other: BenchResult = { scenario: 't', target: 'aedes', figures: { deliveredPerSec: 1 } };
    expect(compareResults([results[0] as BenchResult, other])).toEqual([]);
  });
});

describe('renderTable', () => {
  it('puts targets in columns, ratios last, and skipped targets under the table', () => {
    const table = renderTable([...results, ...compareResults(results)]);
    expect(table.split('\n')).toEqual([
      '| scenario | figure | roost | aedes | mosquitto | roost/aedes |',
      '| --- | --- | ---: | ---: | ---: | ---: |',
      '| s | deliveredPerSec | 50,000 | 40,000 |  | 1.25× |',
      '| s | lossPct | 0 | 0 |  |  |',
      '| s | _brokerCpuPct_ | 99% |  |  |  |',
      '| s | _generatorCpuPct_ | 40% |  |  |  |',
      '',
      '- s / mosquitto: mosquitto not installed',
    ]);
  });
});

describe('formatNumber', () => {
  it('groups thousands and keeps three significant digits below', () => {
    expect(formatNumber(1234567.8)).toBe('1,234,568');
    expect(formatNumber(0.12345)).toBe('0.123');
    expect(formatNumber(12.345)).toBe('12.3');
    expect(formatNumber(42)).toBe('42');
  });
});
