/**
 * Key metadata derived from the schema: dotted paths, environment variable
 * names, flag names and a human description of what each key accepts. Nothing
 * here is written by hand per key, so a new key is documented the moment it
 * is added to `schema.ts`.
 */
import { z } from 'zod';
import { rawConfigSchema } from './schema.js';

export type LeafKind = 'integer' | 'number' | 'boolean' | 'string' | 'enum' | 'list';

/** One settable key, e.g. `mqtt.maxQueuedMessages`. */
export interface ConfigKey {
  /** Dotted path, as written in messages: `mqtt.maxQueuedMessages`. */
  readonly path: string;
  readonly segments: readonly string[];
  readonly kind: LeafKind;
  /** `ROOST_MQTT_MAX_QUEUED_MESSAGES` */
  readonly envName: string;
  /** `--mqtt-max-queued-messages` */
  readonly flagName: string;
  /** What the key accepts, phrased to follow "expected": `an integer 0–65535`. */
  readonly expected: string;
}

export const ENV_PREFIX = 'ROOST_';

function words(segment: string): string[] {
  return segment.split(/(?<=[a-z0-9])(?=[A-Z])/).map((w) => w.toLowerCase());
}

/** `mqtt.maxQueuedMessages` → `ROOST_MQTT_MAX_QUEUED_MESSAGES`. */
export function envNameOf(path: string): string {
  return ENV_PREFIX + path.split('.').flatMap(words).join('_').toUpperCase();
}

/** `mqtt.maxQueuedMessages` → `--mqtt-max-queued-messages`. */
export function flagNameOf(path: string): string {
  return '--' + path.split('.').flatMap(words).join('-');
}

/** Strips `default`, `prefault` and `optional` wrappers down to the type that checks values. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  while (
    current instanceof z.ZodDefault ||
    current instanceof z.ZodPrefault ||
    current instanceof z.ZodOptional
  ) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}

function describeNumber(schema: z.ZodNumber): { kind: LeafKind; expected: string } {
  const isInt = schema.isInt;
  const noun = isInt ? 'an integer' : 'a number';
  const min = schema.minValue;
  const max = schema.maxValue;
  const hasMin = min !== null && min > Number.MIN_SAFE_INTEGER;
  const hasMax = max !== null && max < Number.MAX_SAFE_INTEGER;
  let range = '';
  if (hasMin && hasMax) range = ` ${min}–${max}`;
  else if (hasMin) range = ` ≥ ${min}`;
  else if (hasMax) range = ` ≤ ${max}`;
  return { kind: isInt ? 'integer' : 'number', expected: noun + range };
}

function describeLeaf(schema: z.ZodType, path: string): { kind: LeafKind; expected: string } {
  if (schema instanceof z.ZodNumber) return describeNumber(schema);
  if (schema instanceof z.ZodBoolean) return { kind: 'boolean', expected: 'true or false' };
  if (schema instanceof z.ZodEnum) {
    return { kind: 'enum', expected: `one of ${schema.options.join(', ')}` };
  }
  if (schema instanceof z.ZodString) return { kind: 'string', expected: 'a non-empty string' };
  // Lists are written in the file; from the environment or a flag they are JSON.
  if (schema instanceof z.ZodArray) return { kind: 'list', expected: 'a list' };
  // A new leaf type must teach this function how to describe itself.
  throw new TypeError(`config schema: no description for the type of ${path}`);
}

interface Walked {
  readonly keys: ConfigKey[];
  readonly sections: string[];
}

function walk(shape: Readonly<Record<string, z.ZodType>>, prefix: string[], out: Walked): Walked {
  for (const [name, wrapped] of Object.entries(shape)) {
    const segments = [...prefix, name];
    const path = segments.join('.');
    const schema = unwrap(wrapped);
    if (schema instanceof z.ZodObject) {
      out.sections.push(path);
      walk(schema.shape as Record<string, z.ZodType>, segments, out);
      continue;
    }
    out.keys.push({
      path,
      segments,
      ...describeLeaf(schema, path),
      envName: envNameOf(path),
      flagName: flagNameOf(path),
    });
  }
  return out;
}

const walked = walk(rawConfigSchema.shape, [], { keys: [], sections: [] });

/** Every settable key, in schema order. */
export const CONFIG_KEYS: readonly ConfigKey[] = Object.freeze(walked.keys);

/** Paths of the nested sections (`log`, `mqtt`): mappings, not values. */
export const CONFIG_SECTIONS: ReadonlySet<string> = new Set(walked.sections);

const byPath = new Map(CONFIG_KEYS.map((key) => [key.path, key]));

/** The key at a dotted path, if there is one. */
export function configKey(path: string): ConfigKey | undefined {
  return byPath.get(path);
}
