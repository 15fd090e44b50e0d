/**
 * Reads a YAML config file into a plain object and remembers where each key
 * was written, so a problem can point at `roost.yaml:12`.
 */
import { readFileSync } from 'node:fs';
import type { Node as YamlNode } from 'yaml';
import { RoostError } from '../core/errors.js';
import { yamlLib } from './yaml-lib.js';

export interface YamlConfigFile {
  /** The top-level mapping; empty when the file is empty or unusable. */
  readonly value: Record<string, unknown>;
  /** Syntax problems, each already prefixed with `file:line:col`. */
  readonly problems: readonly string[];
  /** `file:line` of the key at `segments`, or just `file` when it cannot be found. */
  locate(segments: readonly (string | number)[]): string;
}

/** Node's `ENOENT: no such file or directory, open 'x'` without the path, which the caller prints. */
function describeFsError(err: unknown): string {
  if (err instanceof Error) return err.message.replace(/, \w+(?: '.*')?$/, '');
  return String(err);
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'an empty document';
  return `a ${typeof value}`;
}

/**
 * @throws RoostError CONFIG_UNREADABLE when the file cannot be read (missing, a directory, no permission).
 * Syntax errors do not throw: they are returned so they are reported with every other problem.
 */
export function readYamlConfig(file: string): YamlConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RoostError('CONFIG_UNREADABLE', `cannot read config file ${file}: ${describeFsError(err)}`, {
      cause: err,
    });
  }

  const { isMap, isScalar, isSeq, LineCounter, parseDocument } = yamlLib();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const problems = doc.errors.map((error) => {
    const where = error.linePos?.[0];
    // The yaml message repeats the position and appends a source excerpt; one line is enough here.
    const first = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    return where ? `${file}:${where.line}:${where.col}: ${first}` : `${file}: ${first}`;
  });

  let value: Record<string, unknown> = {};
  if (problems.length === 0) {
    const parsed: unknown = doc.toJS();
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed === 'object' && !Array.isArray(parsed)) {
        value = parsed as Record<string, unknown>;
      } else {
        problems.push(`${file}: expected a mapping of keys at the top level, got ${kindOf(parsed)}`);
      }
    }
  }

  const locate = (segments: readonly (string | number)[]): string => {
    let node: unknown = doc.contents;
    let offset: number | undefined;
    for (const segment of segments) {
      if (isSeq(node)) {
        // A list entry (a queue, an ACL rule): point at the entry itself.
        const item: unknown = node.items[Number(segment)];
        if (!item || typeof item !== 'object') break;
        offset = (item as YamlNode).range?.[0];
        node = item;
        continue;
      }
      if (!isMap(node)) break;
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      offset = (pair.key as YamlNode).range?.[0];
      node = pair.value;
    }
    if (offset === undefined) return file;
    return `${file}:${lineCounter.linePos(offset).line}`;
  };

  return { value, problems, locate };
}
