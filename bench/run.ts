/**
 * `npm run bench -- <scenario ...|all> [--compare] [--table] …`: runs the
 * scenarios one after another, prints one JSON line per result on stdout
 * as it comes, then (with --compare) roost's ratio to each reference target,
 * then (with --table) a markdown table of everything. Progress goes to stderr
 * so stdout stays machine-readable.
 */

import { BenchUsageError, parseBenchArgs, USAGE, type BenchCommand } from './args.js';
import { compareResults, renderTable } from './report.js';
import type { BenchResult } from './scenario.js';
import { scenarios } from './scenarios/index.js';
import { installChildCleanup } from './targets/launch.js';

async function main(argv: readonly string[]): Promise<number> {
  let command: BenchCommand;
  try {
    command = parseBenchArgs(argv, scenarios.map((s) => s.name));
  } catch (err) {
    if (!(err instanceof BenchUsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command.kind === 'list') {
    const width = Math.max(...scenarios.map((s) => s.name.length));
    for (const s of scenarios) process.stdout.write(`${s.name.padEnd(width)}  ${s.description}\n`);
    return 0;
  }

  installChildCleanup();
  const all: BenchResult[] = [];
  let failed = false;
  for (const name of command.scenarios) {
    const scenario = scenarios.find((s) => s.name === name);
    if (scenario === undefined) continue;
    process.stderr.write(`bench: ${name} …\n`);
    let results: BenchResult[];
    try {
      results = await scenario.run(command.options);
    } catch (err) {
      // A scenario that throws (rather than reporting per target) must not hide the others' results.
      failed = true;
      results = [{ scenario: name, target: '-', figures: {}, notes: { error: err instanceof Error ? err.message : String(err) } }];
    }
    for (const result of results) process.stdout.write(`${JSON.stringify(result)}\n`);
    if (command.options.compare) {
      for (const ratio of compareResults(results)) process.stdout.write(`${JSON.stringify(ratio)}\n`);
    }
    all.push(...results);
  }
  if (command.table) {
    const rows = command.options.compare ? [...all, ...compareResults(all)] : all;
    process.stdout.write(`\n${renderTable(rows)}\n`);
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
