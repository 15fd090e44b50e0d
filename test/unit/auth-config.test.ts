import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Acl } from '../../src/auth/acl.js';
import { DEFAULT_LOGIN_LIMITS } from '../../src/auth/login-guard.js';
import { loadConfig } from '../../src/config/load.js';
import type { RoostError } from '../../src/core/errors.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'roost-auth-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function problemsOf(text: string): { file: string; lines: string[] } {
  const file = join(dir, 'roost.yaml');
  writeFileSync(file, text);
  try {
    loadConfig({ file, env: {}, flags: {} });
  } catch (err) {
    return { file, lines: (err as RoostError).message.split('\n') };
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('the auth config section', () => {
  it('reads users file, policy and rules from the file, and the ACL from the environment as JSON', () => {
    const file = join(dir, 'roost.yaml');
    writeFileSync(
      file,
      [
        'auth:',
        '  usersFile: users.yaml',
        '  allowAnonymous: false',
        '  acl:',
        '    - allow: { publish: ["devices/%c/#"], subscribe: ["devices/%c/#"] }',
        '      groups: [devices]',
        '    - deny:',
        '        subscribe: ["secrets/#"]',
        '',
      ].join('\n'),
    );
    const { auth } = loadConfig({ file, env: {}, flags: {} });
    expect(auth).toEqual({
      usersFile: 'users.yaml',
      allowAnonymous: false,
      useCertificateCnAsUsername: false,
      acl: [{ allow: { publish: ['devices/%c/#'], subscribe: ['devices/%c/#'] }, groups: ['devices'] }, { deny: { subscribe: ['secrets/#'] } }],
      ...DEFAULT_LOGIN_LIMITS,
    });
    expect(Acl.compile(auth.acl).configured).toBe(true);
    const fromEnv = loadConfig({ env: { ROOST_AUTH_ACL: '[{"allow":{"consume":["q.*"]},"anonymous":true}]' }, flags: {} });
    expect(fromEnv.auth.acl).toEqual([{ allow: { consume: ['q.*'] }, anonymous: true }]);
  });

  it('says what replaced the top-level allowAnonymous, in the file and the environment', () => {
    const { file, lines } = problemsOf('allowAnonymous: false\n');
    expect(lines).toEqual([`allowAnonymous: renamed to auth.allowAnonymous; use auth.allowAnonymous instead [${file}:1]`]);
    expect(() => loadConfig({ env: { ROOST_ALLOW_ANONYMOUS: 'false' }, flags: {} })).toThrow(
      'ROOST_ALLOW_ANONYMOUS: renamed to auth.allowAnonymous; use ROOST_AUTH_ALLOW_ANONYMOUS instead',
    );
  });

  it('names the rule, the key and the line of every mistake in the ACL', () => {
    const { file, lines } = problemsOf(
      [
        'auth:',
        '  acl:',
        '    - allow: { publish: ["a/#/b"] }',
        '    - alow: { publish: [a] }',
        '      deny: { publish: [a] }',
        '    - deny: {}',
        '    - allow: { subscribe: ["$share/g/a"], consume: [""], bogus: [1] }',
        '    - allow: { publish: [a] }',
        '      users: [x]',
        '      anonymous: true',
        '',
      ].join('\n'),
    );
    expect(lines).toEqual([
      `auth.acl.0.allow.publish.0: "a/#/b" is not a topic filter: it uses '#' other than as the whole last level [${file}:3]`,
      `auth.acl.1.alow: unknown key (did you mean auth.acl.1.allow?) [${file}:4]`,
      `auth.acl.2.deny: names none of publish, subscribe, produce, consume [${file}:6]`,
      `auth.acl.3.allow.subscribe.0: "$share/g/a" is not a topic filter: it names a shared subscription; write the filter inside it [${file}:7]`,
      `auth.acl.3.allow.consume.0: "" is not a queue name or pattern [${file}:7]`,
      `auth.acl.3.allow.bogus: unknown key (expected publish, subscribe, produce or consume) [${file}:7]`,
      `auth.acl.4.anonymous: anonymous: true cannot be combined with users or groups (anonymous clients have neither) [${file}:10]`,
    ]);
  });

  it('reads the login limits from the file and the environment, and refuses a limit out of range', () => {
    const file = join(dir, 'roost.yaml');
    writeFileSync(file, 'auth:\n  maxConcurrentPasswordChecks: 1\n  maxLoginFailures: 0\n');
    const { auth } = loadConfig({ file, env: { ROOST_AUTH_LOGIN_BACKOFF_MS: '5000', ROOST_AUTH_MAX_QUEUED_PASSWORD_CHECKS: '0' }, flags: {} });
    expect(auth).toMatchObject({ maxConcurrentPasswordChecks: 1, maxQueuedPasswordChecks: 0, maxLoginFailures: 0, loginBackoffMs: 5000, loginFailureWindowMs: 60_000 });
    const problems = problemsOf('auth:\n  maxConcurrentPasswordChecks: 0\n  loginBackoffMs: -1\n');
    expect(problems.lines).toEqual([
      `auth.maxConcurrentPasswordChecks: expected an integer 1–1024, got 0 [${problems.file}:2]`,
      `auth.loginBackoffMs: expected an integer ≥ 1, got -1 [${problems.file}:3]`,
    ]);
  });

  it('refuses a rule with both allow and deny, or neither', () => {
    const { file, lines } = problemsOf('auth:\n  acl:\n    - users: [a]\n');
    expect(lines).toEqual([`auth.acl.0: a rule has exactly one of allow and deny [${file}:3]`]);
  });
});
