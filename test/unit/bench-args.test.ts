import { describe, expect, it } from 'vitest';
import { BenchUsageError, DEFAULT_DURATION_MS, parseBenchArgs } from '../../bench/args.js';

const names = ['mqtt-fanin-q0', 'mqtt-latency', 'mqtt-conns'];

describe('parseBenchArgs', () => {
  it('runs the named scenarios with the defaults', () => {
    expect(parseBenchArgs(['mqtt-latency'], names)).toEqual({
      kind: 'run',
      scenarios: ['mqtt-latency'],
      table: false,
      options: { host: '127.0.0.1', port: undefined, durationMs: DEFAULT_DURATION_MS, compare: false, extra: {} },
    });
  });

  it('expands all, in list order, without repeats', () => {
    const command = parseBenchArgs(['mqtt-conns', 'all'], names);
    expect(command.kind === 'run' && command.scenarios).toEqual(['mqtt-conns', 'mqtt-fanin-q0', 'mqtt-latency']);
  });

  it('reads the harness options', () => {
    const command = parseBenchArgs(
      ['mqtt-fanin-q0', '--host', 'broker.local', '--port', '1883', '--duration-ms', '2000', '--compare', '--table'],
      names,
    );
    expect(command).toMatchObject({
      kind: 'run',
      table: true,
      options: { host: 'broker.local', port: 1883, durationMs: 2000, compare: true },
    });
  });

  it('passes scenario flags through as given', () => {
    const command = parseBenchArgs(['mqtt-conns', '--conns', '10000', '--kill', '--rate=200', 'mqtt-latency'], names);
    expect(command).toMatchObject({
      kind: 'run',
      scenarios: ['mqtt-conns', 'mqtt-latency'],
      options: { extra: { conns: '10000', kill: true, rate: '200' } },
    });
  });

  it('does not take a scenario name as a flag value', () => {
    const command = parseBenchArgs(['--kill', 'mqtt-latency'], names);
    expect(command).toMatchObject({ scenarios: ['mqtt-latency'], options: { extra: { kill: true } } });
  });

  it('answers --list and --help before anything else', () => {
    expect(parseBenchArgs(['--list', 'nonsense'], names)).toEqual({ kind: 'list' });
    expect(parseBenchArgs(['-h'], names)).toEqual({ kind: 'help' });
  });

  it('rejects unknown scenarios, bad numbers and an empty run', () => {
    expect(() => parseBenchArgs(['nope'], names)).toThrow(BenchUsageError);
    expect(() => parseBenchArgs([], names)).toThrow(/no scenario/);
    expect(() => parseBenchArgs(['all', '--port', '70000'], names)).toThrow(/--port: expected an integer 1–65535/);
    expect(() => parseBenchArgs(['all', '--duration-ms', '1.5'], names)).toThrow(/--duration-ms/);
    expect(() => parseBenchArgs(['all', '--port'], names)).toThrow(/--port: expected a value/);
  });
});
