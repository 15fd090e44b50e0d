/**
 * Builds the one `RoostConfig` the broker runs with: defaults, then the YAML
 * file, then `ROOST_*` environment variables, then command-line flags, each
 * overriding the one before, key by key. Validated once; every problem is
 * reported at once, each naming its key and where the bad value came from.
 */
import type { z } from 'zod';
import { RoostError } from '../core/errors.js';
import { CONFIG_KEYS, CONFIG_SECTIONS, ENV_PREFIX, configKey, envNameOf, type ConfigKey } from './keys.js';
import { renamedMessage, sectionMessage, show, unknownKeyMessage } from './messages.js';
import { deepFreeze, deletePath, getPath, hasPath, setPath, type Plain } from './object-path.js';
import { RENAMED_KEYS, type RenamedKey } from './renamed.js';
import { configSchema } from './schema.js';
import { editDistance } from './suggest.js';
import type { RoostConfig } from './types.js';
import { readYamlConfig, type YamlConfigFile } from './yaml-file.js';

export type FlagValue = string | number | boolean | undefined;

export interface LoadConfigOptions {
  /** YAML file to read, relative to the working directory. Absent: defaults, env and flags only. */
  readonly file?: string | undefined;
  /** Usually `process.env`. Only `ROOST_*` names are read; an empty value counts as unset. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Overrides keyed by dotted path (`{ 'mqtt.port': '1884' }`). Strings are
   * converted like environment values; `undefined` is skipped, so parsed CLI
   * options can be passed as they are.
   */
  readonly flags: Readonly<Record<string, FlagValue>>;
  /** Old key → replacement. Defaults to the shipped `RENAMED_KEYS`; tests inject their own. */
  readonly renamedKeys?: ReadonlyMap<string, RenamedKey>;
}

/** Read by the CLI, not a config key. */
const RESERVED_ENV = new Set(['ROOST_CONFIG']);
// Kubernetes injects ROOST_PORT, ROOST_PORT_1883_TCP, ROOST_SERVICE_HOST… for a Service named
// "roost"; those must never fail a start.
const FOREIGN_ENV = /^ROOST_(?:PORT|SERVICE)(?:_|$)/;

/** The state shared while sources are merged. */
interface Merge {
  readonly value: Plain;
  readonly problems: string[];
  /** Dotted path → the variable or flag that set it last; keys from the file are located on demand. */
  readonly setBy: Map<string, string>;
  readonly renamedKeys: ReadonlyMap<string, RenamedKey>;
  file?: YamlConfigFile;
}

/** Converts a string from the environment or a flag to the key's type; anything unconvertible stays a string so validation names it. */
function fromString(text: string, key: ConfigKey): unknown {
  const trimmed = text.trim();
  switch (key.kind) {
    case 'integer':
    case 'number':
      return /^[+-]?\d+(?:\.\d+)?$/.test(trimmed) ? Number(trimmed) : text;
    case 'boolean': {
      const lower = trimmed.toLowerCase();
      if (lower === 'true' || lower === '1') return true;
      if (lower === 'false' || lower === '0') return false;
      return text;
    }
    case 'list':
      try {
        return JSON.parse(trimmed) as unknown;
      } catch {
        return text;
      }
    default:
      return text;
  }
}

function mergeFile(merge: Merge, path: string): void {
  const file = readYamlConfig(path);
  merge.file = file;
  merge.problems.push(...file.problems);
  Object.assign(merge.value, structuredClone(file.value));
  for (const section of CONFIG_SECTIONS) {
    // A section whose keys are all commented out parses as null; it means "all defaults".
    const segments = section.split('.');
    if (hasPath(merge.value, segments) && getPath(merge.value, segments) === null) {
      setPath(merge.value, segments, {});
    }
  }
  for (const [oldPath, renamed] of merge.renamedKeys) {
    const segments = oldPath.split('.');
    if (!hasPath(merge.value, segments)) continue;
    merge.problems.push(`${renamedMessage(oldPath, renamed, renamed.replacedBy)} [${file.locate(segments)}]`);
    deletePath(merge.value, segments);
  }
}

function nearestEnvName(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const key of CONFIG_KEYS) {
    const distance = editDistance(name, key.envName);
    if (distance < bestDistance) {
      best = key.envName;
      bestDistance = distance;
    }
  }
  return bestDistance <= 2 ? best : undefined;
}

function mergeEnv(merge: Merge, env: LoadConfigOptions['env']): void {
  for (const key of CONFIG_KEYS) {
    const text = env[key.envName];
    if (text === undefined || text === '') continue;
    setPath(merge.value, key.segments, fromString(text, key));
    merge.setBy.set(key.path, key.envName);
  }
  const renamedEnv = new Set<string>();
  for (const [oldPath, renamed] of merge.renamedKeys) {
    const oldName = envNameOf(oldPath);
    renamedEnv.add(oldName);
    if (env[oldName]) merge.problems.push(renamedMessage(oldName, renamed, envNameOf(renamed.replacedBy)));
  }
  const knownEnv = new Set(CONFIG_KEYS.map((key) => key.envName));
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(ENV_PREFIX) || knownEnv.has(name) || renamedEnv.has(name)) continue;
    if (RESERVED_ENV.has(name) || FOREIGN_ENV.test(name)) continue;
    // Unrelated ROOST_* variables are tolerated; only a near miss of a real name is surely a typo.
    const meant = nearestEnvName(name);
    if (meant) merge.problems.push(`${name}: unknown environment variable (did you mean ${meant}?)`);
  }
}

function mergeFlags(merge: Merge, flags: LoadConfigOptions['flags']): void {
  for (const [path, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    const renamed = merge.renamedKeys.get(path);
    const key = configKey(path);
    if (renamed) {
      merge.problems.push(renamedMessage(path, renamed, renamed.replacedBy));
    } else if (!key) {
      merge.problems.push(unknownKeyMessage(path));
    } else {
      setPath(merge.value, key.segments, typeof value === 'string' ? fromString(value, key) : value);
      merge.setBy.set(path, key.flagName);
    }
  }
}

function withSource(message: string, source: string | undefined): string {
  return source ? `${message} [${source}]` : message;
}

/** One line per key at fault in a schema issue. */
function describeIssue(merge: Merge, issue: z.core.$ZodIssue): string[] {
  const segments = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((name) => {
      const full = [...segments, name];
      return withSource(unknownKeyMessage(full.join('.')), merge.file?.locate(full));
    });
  }
  const path = segments.join('.');
  const key = configKey(path);
  let message: string;
  // A custom check (a rule across keys) says what is wrong itself.
  if (key && issue.code !== 'custom') message = `${path}: expected ${key.expected}, got ${show(issue.input)}`;
  else if (CONFIG_SECTIONS.has(path)) message = sectionMessage(path, issue.input);
  else message = `${path || '(top level)'}: ${issue.message}`;
  return [withSource(message, merge.setBy.get(path) ?? merge.file?.locate(segments))];
}

/**
 * Loads, merges and validates the configuration.
 *
 * Precedence, lowest first: schema defaults, `file`, `env`
 * (`ROOST_` + the key's path in SCREAMING_SNAKE_CASE, e.g.
 * `mqtt.maxQueuedMessages` → `ROOST_MQTT_MAX_QUEUED_MESSAGES`), `flags`.
 *
 * @returns a deeply frozen `RoostConfig`.
 * @throws RoostError CONFIG_UNREADABLE when `file` cannot be read.
 * @throws RoostError CONFIG_INVALID listing every problem, one per line,
 *   each `key: what is wrong [where it was set]`.
 */
export function loadConfig(options: LoadConfigOptions): RoostConfig {
  const merge: Merge = {
    value: {},
    problems: [],
    setBy: new Map(),
    renamedKeys: options.renamedKeys ?? RENAMED_KEYS,
  };
  if (options.file !== undefined) mergeFile(merge, options.file);
  mergeEnv(merge, options.env);
  mergeFlags(merge, options.flags);

  const result = configSchema.safeParse(merge.value, { reportInput: true });
  if (result.success && merge.problems.length === 0) return deepFreeze(result.data);

  // One bad value can fail several checks (not an integer, and too big); say it once.
  const lines = new Set(merge.problems);
  for (const issue of result.error?.issues ?? []) {
    for (const line of describeIssue(merge, issue)) lines.add(line);
  }
  throw new RoostError('CONFIG_INVALID', [...lines].join('\n'));
}
