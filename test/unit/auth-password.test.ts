import { describe, expect, it } from 'vitest';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, passwordHashProblem, verifyPassword } from '../../src/auth/password.js';

const FAST = { cost: 1024, blockSize: 8, parallelization: 1 };

describe('hashPassword / verifyPassword', () => {
  it('round-trips with the default parameters, written into the hash', async () => {
    const hash = await hashPassword('correct horse');
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(DEFAULT_SCRYPT_PARAMS.cost).toBe(16_384);
    expect(passwordHashProblem(hash)).toBeUndefined();
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword(Buffer.from('correct horse'), hash)).toBe(true);
  });

  it('refuses a wrong password, a case change and an empty one', async () => {
    const hash = await hashPassword('secret', FAST);
    expect(await verifyPassword('secret!', hash)).toBe(false);
    expect(await verifyPassword('Secret', hash)).toBe(false);
    expect(await verifyPassword('', hash)).toBe(false);
  });

  it('salts every hash: the same password hashes differently', async () => {
    const [a, b] = await Promise.all([hashPassword('same', FAST), hashPassword('same', FAST)]);
    expect(a).not.toBe(b);
    expect(await verifyPassword('same', a)).toBe(true);
    expect(await verifyPassword('same', b)).toBe(true);
  });

  it('verifies with the parameters stored in the hash, not the current defaults', async () => {
    const hash = await hashPassword('pw', { cost: 2048, blockSize: 4, parallelization: 2 });
    expect(hash.startsWith('scrypt$2048$4$2$')).toBe(true);
    expect(await verifyPassword('pw', hash)).toBe(true);
  });

  it('refuses to write parameters it would not verify', async () => {
    await expect(hashPassword('pw', { cost: 1000, blockSize: 8, parallelization: 1 })).rejects.toThrow(RangeError);
  });
});

describe('malformed stored hashes', () => {
  const salt = Buffer.alloc(16, 1).toString('base64');
  const key = Buffer.alloc(32, 2).toString('base64');
  const cases: [string, RegExp][] = [
    ['', /expected scrypt\$N\$r\$p\$salt\$hash/],
    ['plain-text-password', /expected scrypt/],
    [`bcrypt$16384$8$1$${salt}$${key}`, /expected scrypt/],
    [`scrypt$16384$8$1$${salt}`, /expected scrypt/],
    [`scrypt$16384$8$1$${salt}$${key}$extra`, /expected scrypt/],
    [`scrypt$16000$8$1$${salt}$${key}`, /N must be a power of two/],
    [`scrypt$${2 ** 30}$8$1$${salt}$${key}`, /N must be a power of two/],
    [`scrypt$16384$0$1$${salt}$${key}`, /r must be/],
    [`scrypt$16384$8$x$${salt}$${key}`, /p must be/],
    [`scrypt$1048576$32$1$${salt}$${key}`, /MiB/],
    [`scrypt$16384$8$1$not*base64$${key}`, /salt/],
    [`scrypt$16384$8$1$${Buffer.alloc(4).toString('base64')}$${key}`, /salt/],
    [`scrypt$16384$8$1$${salt}$${Buffer.alloc(8).toString('base64')}`, /hash must be/],
  ];

  it.each(cases)('%j is described, not thrown', (stored, problem) => {
    expect(passwordHashProblem(stored)).toMatch(problem);
  });

  it('never verifies, and never rejects', async () => {
    for (const [stored] of cases) await expect(verifyPassword('anything', stored)).resolves.toBe(false);
  });
});
