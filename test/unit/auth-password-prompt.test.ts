import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PromptError, readNewPassword, type PromptInput } from '../../src/auth/password-prompt.js';

/** A stand-in terminal: keystrokes in, raw-mode switches recorded. */
function terminal(): { input: PromptInput & PassThrough; output: PassThrough; rawModes: boolean[]; shown: () => string } {
  const rawModes: boolean[] = [];
  const input = Object.assign(new PassThrough(), {
    isTTY: true,
    setRawMode(mode: boolean) {
      rawModes.push(mode);
      return input;
    },
  });
  const output = new PassThrough();
  let shown = '';
  output.setEncoding('utf8').on('data', (text: string) => (shown += text));
  return { input, output, rawModes, shown: () => shown };
}

describe('readNewPassword on a terminal', () => {
  it('asks twice in raw mode, echoes nothing, and honours backspace', async () => {
    const tty = terminal();
    const answer = readNewPassword(tty.input, tty.output);
    tty.input.write('sekrex\u007ft\r');
    await new Promise((resolve) => setImmediate(resolve));
    tty.input.write('sekret\r');
    expect(await answer).toBe('sekret');
    expect(tty.shown()).toBe('Password: \nPassword again: \n');
    expect(tty.rawModes).toEqual([true, false, true, false]);
  });

  it('refuses two different entries, and stops on Ctrl-C', async () => {
    const tty = terminal();
    const answer = readNewPassword(tty.input, tty.output);
    tty.input.write('one\r');
    await new Promise((resolve) => setImmediate(resolve));
    tty.input.write('two\r');
    await expect(answer).rejects.toThrow(new PromptError('the two passwords differ; nothing changed'));

    const again = terminal();
    const cancelled = readNewPassword(again.input, again.output);
    again.input.write('abc\u0003');
    await expect(cancelled).rejects.toThrow('cancelled');
    expect(again.rawModes.at(-1)).toBe(false);
  });
});

describe('readNewPassword from a pipe', () => {
  it('takes the first line, without its line ending', async () => {
    const input = new PassThrough();
    input.end('from stdin\r\nsecond line\n');
    expect(await readNewPassword(input, new PassThrough())).toBe('from stdin');
    const noNewline = new PassThrough();
    noNewline.end('no newline');
    expect(await readNewPassword(noNewline, new PassThrough())).toBe('no newline');
  });

  it('refuses an empty password', async () => {
    const input = new PassThrough();
    input.end('\n');
    await expect(readNewPassword(input, new PassThrough())).rejects.toThrow(/empty password/);
  });
});
