/**
 * Turns results into comparisons and a markdown table. Pure: no I/O.
 */

import type { BenchResult } from './scenario.js';

/** The target every ratio is taken for. */
export const SUBJECT = 'roost';

/**
 * For each scenario, one result per reference target that ran in the same
 * run: target `roost/<reference>`, each figure both measured as roost's
 * value divided by the reference's (rounded to 3 decimals). Figures with a
 * zero denominator are left out rather than reported as infinite.
 */
export function compareResults(results: readonly BenchResult[]): BenchResult[] {
  const ratios: BenchResult[] = [];
  for (const subject of results) {
    if (subject.target !== SUBJECT || Object.keys(subject.figures).length === 0) continue;
    for (const reference of results) {
      if (reference.scenario !== subject.scenario || reference.target === SUBJECT) continue;
      if (reference.target.includes('/')) continue;
      const figures: Record<string, number> = {};
      for (const [name, value] of Object.entries(subject.figures)) {
        const base = reference.figures[name];
        if (base === undefined || base === 0) continue;
        figures[name] = Math.round((value / base) * 1000) / 1000;
      }
      if (Object.keys(figures).length === 0) continue;
      ratios.push({ scenario: subject.scenario, target: `${SUBJECT}/${reference.target}`, figures });
    }
  }
  return ratios;
}

/**
 * A markdown table: one row per scenario and figure, one column per target
 * in order of first appearance (ratio columns last), plus the CPU shares
 * from the notes, so a reader sees what limited each figure. Targets that
 * were skipped or failed show the reason under the table.
 */
export function renderTable(results: readonly BenchResult[]): string {
  const targets: string[] = [];
  for (const result of results) if (!targets.includes(result.target)) targets.push(result.target);
  const columns = [...targets.filter((t) => !t.includes('/')), ...targets.filter((t) => t.includes('/'))];

  const lines = [`| scenario | figure | ${columns.join(' | ')} |`, `| --- | --- | ${columns.map(() => '---:').join(' | ')} |`];
  const scenarios: string[] = [];
  for (const result of results) if (!scenarios.includes(result.scenario)) scenarios.push(result.scenario);
  const footnotes: string[] = [];

  for (const scenario of scenarios) {
    const byTarget = new Map(results.filter((r) => r.scenario === scenario).map((r) => [r.target, r]));
    const rowNames: string[] = [];
    for (const result of byTarget.values()) {
      for (const name of Object.keys(result.figures)) if (!rowNames.includes(name)) rowNames.push(name);
    }
    for (const name of rowNames) {
      const cells = columns.map((target) => {
        const value = byTarget.get(target)?.figures[name];
        if (value === undefined) return '';
        return target.includes('/') ? `${formatNumber(value)}×` : formatNumber(value);
      });
      lines.push(`| ${scenario} | ${name} | ${cells.join(' | ')} |`);
    }
    for (const note of ['brokerCpuPct', 'generatorCpuPct', 'othersCpuPct']) {
      const cells = columns.map((target) => {
        const value = byTarget.get(target)?.notes?.[note];
        return typeof value === 'number' ? `${formatNumber(value)}%` : '';
      });
      if (cells.some((cell) => cell !== '')) lines.push(`| ${scenario} | _${note}_ | ${cells.join(' | ')} |`);
    }
    for (const [target, result] of byTarget) {
      const why = result.notes?.['skipped'] ?? result.notes?.['error'];
      if (why !== undefined) footnotes.push(`- ${scenario} / ${target}: ${String(why)}`);
    }
  }
  return footnotes.length === 0 ? lines.join('\n') : `${lines.join('\n')}\n\n${footnotes.join('\n')}`;
}

/** Thousands separators for large values, three significant decimals for small ones. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(3)));
}
