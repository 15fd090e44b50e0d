/**
 * Password hashing with scrypt. A stored hash describes itself:
 *
 *   scrypt$<N>$<r>$<p>$<salt, base64>$<key, base64>
 *
 * so the cost can be raised later without invalidating existing entries: a
 * hash is always verified with the parameters written next to it.
 */
import { randomBytes, scrypt, timingSafeEqual, type BinaryLike } from 'node:crypto';

/** scrypt cost parameters. */
export interface ScryptParams {
  /** CPU/memory cost N, a power of two. */
  readonly cost: number;
  /** Block size r. */
  readonly blockSize: number;
  /** Parallelisation p. */
  readonly parallelization: number;
}

/**
 * N = 2^14, r = 8, p = 1: 16 MiB and a few tens of milliseconds per hash,
 * the interactive-login setting of the scrypt paper, affordable on a Raspberry Pi.
 */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = Object.freeze({ cost: 16_384, blockSize: 8, parallelization: 1 });

const PREFIX = 'scrypt';
const SALT_BYTES = 16;
const KEY_BYTES = 32;

// Bounds on what a stored hash may ask for. A hash is read from a file an
// attacker may have been able to touch; without a ceiling one line could make
// every login allocate gigabytes.
const MIN_COST = 2 ** 10;
const MAX_COST = 2 ** 20;
const MAX_BLOCK_SIZE = 32;
const MAX_PARALLELIZATION = 16;
const MAX_MEMORY_BYTES = 256 * 1024 * 1024;
const MIN_SALT_BYTES = 8;
const MAX_SALT_BYTES = 64;
const MIN_KEY_BYTES = 16;
const MAX_KEY_BYTES = 64;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A stored hash, split and decoded. */
interface ParsedHash extends ScryptParams {
  readonly salt: Buffer;
  readonly key: Buffer;
}

function memoryBytes(params: ScryptParams): number {
  return 128 * params.cost * params.blockSize;
}

function decodeBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Reject text Buffer.from would silently repair (bad padding, stray bits).
  return bytes.toString('base64') === text ? bytes : undefined;
}

function parseInteger(text: string): number | undefined {
  return /^[1-9]\d{0,9}$/.test(text) ? Number(text) : undefined;
}

function parseHash(stored: string): ParsedHash | string {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return 'expected scrypt$N$r$p$salt$hash';
  const [, n, r, p, saltText, keyText] = parts as [string, string, string, string, string, string];
  const cost = parseInteger(n);
  const blockSize = parseInteger(r);
  const parallelization = parseInteger(p);
  if (cost === undefined || cost < MIN_COST || cost > MAX_COST || (cost & (cost - 1)) !== 0) {
    return `N must be a power of two from ${MIN_COST} to ${MAX_COST}, got ${JSON.stringify(n)}`;
  }
  if (blockSize === undefined || blockSize > MAX_BLOCK_SIZE) return `r must be an integer 1–${MAX_BLOCK_SIZE}, got ${JSON.stringify(r)}`;
  if (parallelization === undefined || parallelization > MAX_PARALLELIZATION) {
    return `p must be an integer 1–${MAX_PARALLELIZATION}, got ${JSON.stringify(p)}`;
  }
  if (memoryBytes({ cost, blockSize, parallelization }) > MAX_MEMORY_BYTES) {
    return `N and r need more than ${MAX_MEMORY_BYTES / 1024 / 1024} MiB per hash`;
  }
  const salt = decodeBase64(saltText);
  if (!salt || salt.length < MIN_SALT_BYTES || salt.length > MAX_SALT_BYTES) {
    return `the salt must be ${MIN_SALT_BYTES}–${MAX_SALT_BYTES} bytes of base64`;
  }
  const key = decodeBase64(keyText);
  if (!key || key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) {
    return `the hash must be ${MIN_KEY_BYTES}–${MAX_KEY_BYTES} bytes of base64`;
  }
  return { cost, blockSize, parallelization, salt, key };
}

/**
 * Why `stored` is not a usable password hash, or undefined when it is.
 * Never throws; the users loader turns the answer into a line naming the user.
 */
export function passwordHashProblem(stored: string): string | undefined {
  const parsed = parseHash(stored);
  return typeof parsed === 'string' ? parsed : undefined;
}

function derive(password: BinaryLike, salt: Buffer, keyBytes: number, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password,
      salt,
      keyBytes,
      {
        N: params.cost,
        r: params.blockSize,
        p: params.parallelization,
        // Node's default ceiling (32 MiB) is below what the accepted parameters may need.
        maxmem: memoryBytes(params) * 2,
      },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/**
 * Hashes `password` with a fresh 16-byte random salt. Runs on the libuv
 * thread pool, not the event loop.
 * @returns `scrypt$N$r$p$salt$hash`, salt and hash in base64.
 * @throws RangeError when `params` are outside what `verifyPassword` accepts.
 */
export async function hashPassword(password: string | Buffer, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const head = `${PREFIX}$${params.cost}$${params.blockSize}$${params.parallelization}`;
  // Refuse to write a hash this module would later refuse to verify.
  const problem = passwordHashProblem(`${head}$${salt.toString('base64')}$${Buffer.alloc(KEY_BYTES).toString('base64')}`);
  if (problem) throw new RangeError(`scrypt parameters: ${problem}`);
  const key = await derive(password, salt, KEY_BYTES, params);
  return `${head}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/**
 * True when `password` hashes to `stored`, compared in constant time.
 * Resolves false, never rejects, when `stored` is malformed or its
 * parameters are out of bounds.
 */
export async function verifyPassword(password: string | Buffer, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (typeof parsed === 'string') return false;
  let key: Buffer;
  try {
    key = await derive(password, parsed.salt, parsed.key.length, parsed);
  } catch {
    return false;
  }
  return timingSafeEqual(key, parsed.key);
}
