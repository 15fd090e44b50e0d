import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * Roost's version from its package.json, or 'unknown'. Walks up from this
 * file because the compiled copy sits one level deeper than the source.
 * Read once.
 */
export function roostVersion(): string {
  return (cached ??= readVersion());
}

function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'roost' && typeof pkg.version === 'string') return pkg.version;
      } catch {
        // Unreadable: keep walking.
      }
    }
    dir = dirname(dir);
  }
  return 'unknown';
}
