/**
 * The `npm run bench` command line, parsed without side effects so it can
 * be tested: harness options are declared; any other `--flag [value]` is a
 * scenario-specific flag passed through in `BenchOptions.extra`.
 */

import { parseArgs } from 'node:util';
import type { BenchOptions } from './scenario.js';

export const DEFAULT_DURATION_MS = 5_000;
export const DEFAULT_HOST = '127.0.0.1';

export type BenchCommand =
  | { readonly kind: 'help' }
  | { readonly kind: 'list' }
  | { readonly kind: 'run'; readonly scenarios: readonly string[]; readonly options: BenchOptions; readonly table: boolean };

/** A command line the harness cannot run; the message names the argument. */
export class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
}

const HARNESS_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  list: { type: 'boolean' },
  host: { type: 'string' },
  port: { type: 'string' },
  'duration-ms': { type: 'string' },
  compare: { type: 'boolean' },
  table: { type: 'boolean' },
} as const;

/**
 * Parses `argv` (without `node` and the script) against the known scenario names.
 * Positionals are scenario names or `all`; `--conns 10000` and `--kill` land in `extra`
 * as `{ conns: '10000', kill: true }`.
 * @throws BenchUsageError on an unknown scenario, a bad number, or no scenario to run.
 */
export function parseBenchArgs(argv: readonly string[], scenarioNames: readonly string[]): BenchCommand {
  const { values, tokens } = parseArgs({
    args: [...argv],
    options: HARNESS_OPTIONS,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  if (values.help === true) return { kind: 'help' };
  if (values.list === true) return { kind: 'list' };

  const extra: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const consumed = new Set<number>();
  const isScenarioWord = (word: string): boolean => word === 'all' || scenarioNames.includes(word);
  for (const [i, token] of tokens.entries()) {
    if (token.kind === 'positional') {
      if (!consumed.has(token.index)) positionals.push(token.value);
      continue;
    }
    if (token.kind !== 'option' || token.name in HARNESS_OPTIONS) continue;
    if (token.value !== undefined) {
      extra[token.name] = token.value;
      continue;
    }
    // An undeclared flag takes the next word as its value unless that word is a scenario.
    const next = tokens[i + 1];
    if (next?.kind === 'positional' && !isScenarioWord(next.value)) {
      extra[token.name] = next.value;
      consumed.add(next.index);
    } else {
      extra[token.name] = true;
    }
  }

  const names: string[] = [];
  for (const word of positionals) {
    if (word === 'all') names.push(...scenarioNames);
    else if (scenarioNames.includes(word)) names.push(word);
    else throw new BenchUsageError(`unknown scenario "${word}"; npm run bench -- --list shows them`);
  }
  if (names.length === 0) throw new BenchUsageError('no scenario given: name one or more, or all (--list shows them)');

  const options: BenchOptions = {
    host: stringValue(values.host, 'host') ?? DEFAULT_HOST,
    port: integerValue(values.port, 'port', 1, 65_535),
    durationMs: integerValue(values['duration-ms'], 'duration-ms', 1, 3_600_000) ?? DEFAULT_DURATION_MS,
    compare: values.compare === true,
    extra,
  };
  return { kind: 'run', scenarios: [...new Set(names)], options, table: values.table === true };
}

function stringValue(value: string | boolean | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new BenchUsageError(`--${name}: expected a value`);
  return value;
}

function integerValue(value: string | boolean | undefined, name: string, min: number, max: number): number | undefined {
  const text = stringValue(value, name);
  if (text === undefined) return undefined;
  const parsed = Number(text);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new BenchUsageError(`--${name}: expected an integer ${min}–${max}, got "${text}"`);
  }
  return parsed;
}

export const USAGE = `usage: npm run bench -- <scenario ...|all> [options]

  --list              list the scenarios and exit
  --compare           also run the reference targets (stock aedes; mosquitto when installed)
  --table             print a markdown table of all results at the end
  --duration-ms N     length of each measured phase (default ${DEFAULT_DURATION_MS})
  --host H --port P   measure an already running broker instead of starting targets
                      (add --pid N so its CPU and RSS can be read)
  --targets a,b       start exactly these targets (roost, aedes, mosquitto, aedes-patched)
  --warmup-ms N       load before the measured phase (default 1000)
  --settle-ms N       quiet time that ends the settle phase before loss is counted (default 1000)
  --max-ahead N       QoS 0 throughput: deliveries publishers may be ahead of subscribers (default 50000)
  --quiet-wait-ms N   before each target, wait up to N ms for the machine to be idle (default 30000; 0: don't)
  --attempts N        measure a target again while other processes used >25% of a core (default 3)
  --rate N            mqtt-latency: messages per second (default 5000)
  --conns N           mqtt-conns: idle connections (default 1000)

Prints one JSON line per result on stdout; progress and errors go to stderr.`;
