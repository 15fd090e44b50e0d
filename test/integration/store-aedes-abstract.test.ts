import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const runner = fileURLToPath(new URL('../helpers/store-aedes-abstract-runner.mjs', import.meta.url));

function run(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=tap', runner], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('aedes-persistence abstract suite against the LevelDB adapter', () => {
  it('passes every test (runs dist/, built by `npm run build`)', { timeout: 120_000 }, async () => {
    expect(existsSync(new URL('../../dist/src/store/aedes-persistence.js', import.meta.url)), 'run `npm run build` first').toBe(true);
    const { code, out } = await run();
    const failed = /^# fail (\d+)/m.exec(out)?.[1];
    const passed = Number(/^# pass (\d+)/m.exec(out)?.[1] ?? 0);
    expect(failed, out.slice(-4000)).toBe('0');
    expect(passed).toBeGreaterThanOrEqual(50);
    expect(code, out.slice(-4000)).toBe(0);
  });
});
