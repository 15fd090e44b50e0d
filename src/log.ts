/**
 * The one root logger. Everything else logs through `log.child({...})` of it.
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { RoostConfig } from './config/types.js';

/** pino-pretty and its dependencies cost a few MB of heap: loaded only when pretty output is asked for. */
const requirePretty = (): typeof import('pino-pretty') => createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');

/**
 * Credentials can ride along in a logged connect packet or options object;
 * they never reach the log, at the top level or one object down.
 */
export const REDACTED_PATHS: readonly string[] = ['password', 'passcode', '*.password', '*.passcode'];

/**
 * Creates the root logger: JSON lines by default, human-readable when
 * `options.pretty` (the default on a terminal), at `options.level`.
 * Output is synchronous so the last lines before `process.exit` are not lost.
 * `destination` replaces stdout (tests pass a stream to read the lines).
 */
export function createLogger(options: RoostConfig['log'], destination?: DestinationStream): Logger {
  const base = {
    level: options.level,
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
  };
  if (options.pretty) {
    // In-process and synchronous rather than a worker transport: a worker can lose its tail on exit.
    const stream = requirePretty()({
      sync: true,
      destination: destination ?? 1,
      colorize: destination === undefined && process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      singleLine: true,
    });
    return pino(base, stream);
  }
  return pino(base, destination ?? pino.destination({ dest: 1, sync: true }));
}
