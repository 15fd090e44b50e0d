/**
 * Turns what `mkdir` and classic-level throw while opening into RoostErrors a
 * user can act on. classic-level wraps every open failure as
 * `LEVEL_DATABASE_NOT_OPEN` with the reason in `cause.code`: `LEVEL_LOCKED`
 * (another process holds the LOCK file), `LEVEL_CORRUPTION`, or
 * `LEVEL_IO_ERROR` whose message carries the OS error text.
 */
import { RoostError } from '../core/errors.js';

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** For a failure creating or probing the data dir itself. */
export function dataDirError(dataDir: string, err: unknown): RoostError {
  return new RoostError(
    'STORE_UNWRITABLE',
    `data dir ${dataDir} cannot be created or written (${codeOf(err) ?? messageOf(err)}); fix its permissions or choose another --data-dir`,
    { cause: err },
  );
}

/** For a failure of `db.open()`. */
export function openError(dataDir: string, err: unknown): RoostError {
  const cause = (err as { cause?: unknown } | null)?.cause ?? err;
  const code = codeOf(cause);
  const text = messageOf(cause);
  if (code === 'LEVEL_LOCKED') {
    return new RoostError('STORE_LOCKED', `data dir ${dataDir} is in use by another roost process; stop it or choose another --data-dir`, { cause: err });
  }
  if (code === 'LEVEL_IO_ERROR' && /permission denied|read-only|EACCES|EROFS|EPERM/i.test(text)) {
    return new RoostError('STORE_UNWRITABLE', `data dir ${dataDir} is not writable (${text}); fix its permissions or choose another --data-dir`, { cause: err });
  }
  if (code === 'LEVEL_CORRUPTION' || code === 'LEVEL_IO_ERROR') {
    // An IO error at open is a missing or unreadable table/manifest file: the files are damaged.
    return new RoostError('STORE_CORRUPT', `data dir ${dataDir} holds a damaged store (${text}); restore it from a backup or move it away to start empty`, { cause: err });
  }
  return new RoostError('STORE_UNWRITABLE', `data dir ${dataDir} could not be opened (${text})`, { cause: err });
}
