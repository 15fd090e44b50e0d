import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';

/** A destination that keeps every line written to it. */
function capture(): { stream: Writable & { write(chunk: string): boolean }; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines };
}

describe('createLogger', () => {
  it('writes JSON at the configured level', () => {
    const { stream, lines } = capture();
    const log = createLogger({ level: 'warn', pretty: false }, stream);
    log.info('hidden');
    log.warn({ proto: 'mqtt' }, 'shown');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 40, proto: 'mqtt', msg: 'shown' });
  });

  it('redacts passwords and passcodes at the top level and one object down', () => {
    const { stream, lines } = capture();
    const log = createLogger({ level: 'info', pretty: false }, stream);
    log.info({ password: 'p1', passcode: 'p2', connect: { username: 'u', password: 'p3' }, frame: { passcode: 'p4' } }, 'x');
    const line = lines[0] ?? '';
    expect(line).not.toMatch(/p1|p2|p3|p4/);
    expect(JSON.parse(line)).toMatchObject({ connect: { username: 'u', password: '[redacted]' } });
  });

  it('writes human-readable lines when pretty', () => {
    const { stream, lines } = capture();
    const log = createLogger({ level: 'info', pretty: true }, stream);
    log.info({ password: 'secret' }, 'hello');
    const text = lines.join('\n');
    expect(text).toContain('hello');
    expect(text).not.toContain('secret');
    expect(() => JSON.parse(lines[0] ?? '')).toThrow();
  });
});
