/**
 * Reads a new password for `roost passwd add`: typed twice at a terminal
 * without echo, or the first line of standard input when it is a pipe or a
 * file (scripts, provisioning, tests).
 */
import type { Readable, Writable } from 'node:stream';

/** A terminal's input stream, as far as reading a hidden line needs it. */
export interface PromptInput extends Readable {
  readonly isTTY?: boolean | undefined;
  setRawMode?(mode: boolean): unknown;
}

/** The user gave up (Ctrl-C, Ctrl-D) or the two entries differ; `message` is for the user. */
export class PromptError extends Error {
  override readonly name = 'PromptError';
}

/** More than any password needs; stops `cat /dev/urandom |` from filling memory. */
const MAX_PIPED_BYTES = 64 * 1024;

/**
 * One line typed at the terminal `input`, echoing nothing. Backspace and
 * Ctrl-U edit; Enter ends; Ctrl-C, or Ctrl-D on an empty line, cancels.
 * @throws PromptError when cancelled.
 */
export function readHiddenLine(input: PromptInput, output: Writable, prompt: string): Promise<string> {
  output.write(prompt);
  input.setRawMode?.(true);
  input.setEncoding('utf8');
  input.resume();
  let value = '';
  return new Promise((resolve, reject) => {
    const finish = (error?: PromptError): void => {
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) return finish(new PromptError('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch === '\u0015') value = '';
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}

/** The first line of a non-terminal `input`, without its line ending. */
export async function readFirstLine(input: Readable): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    const end = text.search(/\r?\n/);
    if (end !== -1) return text.slice(0, end);
    if (text.length > MAX_PIPED_BYTES) break;
  }
  return text;
}

/**
 * A new password: asked twice without echo on a terminal, else the first
 * line of `input`.
 * @throws PromptError when cancelled, when the two entries differ, or when it is empty.
 */
export async function readNewPassword(input: PromptInput, output: Writable): Promise<string> {
  let password: string;
  if (input.isTTY === true && typeof input.setRawMode === 'function') {
    password = await readHiddenLine(input, output, 'Password: ');
    if (password !== '') {
      const again = await readHiddenLine(input, output, 'Password again: ');
      if (again !== password) throw new PromptError('the two passwords differ; nothing changed');
    }
  } else {
    password = await readFirstLine(input);
  }
  if (password === '') throw new PromptError('empty password: type one at a terminal, or give it as the first line of standard input');
  return password;
}
