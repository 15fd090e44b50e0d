import { describe, expect, it } from 'vitest';
import { buildFrame, digitsAt, StompParseError, StompParser, type StompFrameView, type StompParserLimits } from '../../bench/stomp-raw.js';

type Event = 'heartbeat' | { command: string; headers: Array<[string, string]>; body: string };

/** Feeds `chunks` to a fresh parser and returns what it emitted, frames copied out of the reused view. */
function parse(chunks: readonly Buffer[], limits: StompParserLimits = {}): Event[] {
  const events: Event[] = [];
  const parser = new StompParser(
    {
      frame: (frame: StompFrameView) => {
        events.push({ command: frame.command, headers: frame.headers(), body: frame.body().toString('hex') });
      },
      heartbeat: () => events.push('heartbeat'),
    },
    limits,
  );
  for (const chunk of chunks) parser.push(chunk);
  return events;
}

function splitAt(stream: Buffer, offset: number): Buffer[] {
  return [stream.subarray(0, offset), stream.subarray(offset)];
}

function bytewise(stream: Buffer): Buffer[] {
  return Array.from(stream, (_, i) => stream.subarray(i, i + 1));
}

const binaryBody = Buffer.from([0x00, 0x0a, 0x0d, 0x3a, 0x5c, 0xff, 0x00, 0x41]);

/** Every kind of input a broker sends, back to back, with heart-beats (LF and CRLF) between frames. */
const stream = Buffer.concat([
  Buffer.from('CONNECTED\nversion:1.2\nserver:roost/0.1.0\nsession:a:b\\c\nheart-beat:0,0\n\n\0', 'latin1'),
  Buffer.from('\n\r\n', 'latin1'),
  Buffer.from('RECEIPT\nreceipt-id:0000000042\n\n\0', 'latin1'),
  Buffer.from(`MESSAGE\nsubscription:0\nmessage-id:s-1\ndestination:/queue/bench\nack:s\\c1\\\\x\ncontent-length:${binaryBody.length}\n\n`, 'latin1'),
  binaryBody,
  Buffer.from('\0\n', 'latin1'),
  Buffer.from('MESSAGE\r\nsubscription:0\r\nmessage-id:s-2\r\nnote:a\\nb\r\n\r\nplain text\0', 'latin1'),
  Buffer.from('ERROR\nmessage:queue full\ncontent-type:text/plain\ncontent-length:7\n\ndetails\0\n\n', 'latin1'),
]);

const expected: Event[] = [
  {
    command: 'CONNECTED',
    // CONNECTED is never escaped: the backslash is data.
    headers: [
      ['version', '1.2'],
      ['server', 'roost/0.1.0'],
      ['session', 'a:b\\c'],
      ['heart-beat', '0,0'],
    ],
    body: '',
  },
  'heartbeat',
  'heartbeat',
  { command: 'RECEIPT', headers: [['receipt-id', '0000000042']], body: '' },
  {
    command: 'MESSAGE',
    headers: [
      ['subscription', '0'],
      ['message-id', 's-1'],
      ['destination', '/queue/bench'],
      ['ack', 's:1\\x'],
      ['content-length', String(binaryBody.length)],
    ],
    body: binaryBody.toString('hex'),
  },
  'heartbeat',
  {
    command: 'MESSAGE',
    headers: [
      ['subscription', '0'],
      ['message-id', 's-2'],
      ['note', 'a\nb'],
    ],
    body: Buffer.from('plain text').toString('hex'),
  },
  {
    command: 'ERROR',
    headers: [
      ['message', 'queue full'],
      ['content-type', 'text/plain'],
      ['content-length', '7'],
    ],
    body: Buffer.from('details').toString('hex'),
  },
  'heartbeat',
  'heartbeat',
];

describe('StompParser', () => {
  it('parses a whole stream of server frames and heart-beats', () => {
    expect(parse([stream])).toEqual(expected);
  });

  it('gives the same events one byte at a time', () => {
    expect(parse(bytewise(stream))).toEqual(expected);
  });

  it('gives the same events split at every offset', () => {
    for (let offset = 0; offset <= stream.length; offset++) {
      expect(parse(splitAt(stream, offset)), `split at ${offset}`).toEqual(expected);
    }
  });

  it('gives the same events split at every pair of offsets', () => {
    for (let a = 1; a < stream.length; a += 3) {
      for (let b = a; b < stream.length; b += 5) {
        const chunks = [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)];
        expect(parse(chunks), `split at ${a}, ${b}`).toEqual(expected);
      }
    }
  });

  it('frames a body by content-length, NULs included, even when it arrives in many chunks', () => {
    const body = Buffer.alloc(100_000, 0);
    const frame = Buffer.concat([Buffer.from(`MESSAGE\nack:1\ncontent-length:${body.length}\n\n`), body, Buffer.from([0])]);
    const chunks: Buffer[] = [];
    for (let at = 0; at < frame.length; at += 997) chunks.push(frame.subarray(at, at + 997));
    const events = parse(chunks);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ command: 'MESSAGE', body: body.toString('hex') });
  });

  it('emits a small frame as soon as it is whole, after a long one was pieced together', () => {
    const long = Buffer.concat([Buffer.from('MESSAGE\ncontent-length:5000\n\n'), Buffer.alloc(5_000, 0x61), Buffer.from('\0\r')]);
    const events = parse([long.subarray(0, 100), long.subarray(100), Buffer.from('\nRECEIPT\nreceipt-id:1\n\n\0')]);
    expect(events.map((e) => (e === 'heartbeat' ? e : e.command))).toEqual(['MESSAGE', 'heartbeat', 'RECEIPT']);
  });

  it('takes the first of repeated headers, content-length included', () => {
    const frame = Buffer.from('MESSAGE\nack:first\nack:second\ncontent-length:2\ncontent-length:5\n\nab\0');
    let ack: string | undefined;
    new StompParser({ frame: (f) => (ack = f.header('ack')), heartbeat: () => undefined }).push(frame);
    expect(ack).toBe('first');
    expect(parse([frame])[0]).toMatchObject({ body: Buffer.from('ab').toString('hex') });
  });

  it('exposes the raw (escaped) value offsets, so an ack id can be copied back unchanged', () => {
    const frame = Buffer.from('MESSAGE\nack:a\\cb\ncontent-length:0\n\n\0');
    let raw = '';
    new StompParser({
      frame: (f) => {
        const index = f.indexOf(Buffer.from('ack'));
        raw = f.data.toString('latin1', f.valueStart(index), f.valueEnd(index));
      },
      heartbeat: () => undefined,
    }).push(frame);
    expect(raw).toBe('a\\cb');
  });

  it('refuses what a broker never sends', () => {
    const cases: Array<[string, string]> = [
      ['SEND\ndestination:/queue/a\n\n\0', 'not a server command'],
      ['MESSAGE\nno-colon-here\n\n\0', 'header line'],
      ['MESSAGE\n:value\n\n\0', 'header line'],
      ['MESSAGE\ncontent-length:+3\n\nabc\0', 'decimal number'],
      ['MESSAGE\ncontent-length:3\n\nabcd\0', 'no NUL'],
      ['\rX', 'CR not followed by LF'],
    ];
    for (const [text, message] of cases) {
      const run = (): Event[] => parse([Buffer.from(text, 'latin1')]);
      expect(run, text).toThrow(StompParseError);
      expect(run, text).toThrow(message);
    }
  });

  it('refuses an oversized frame as soon as its length is known, before the body arrives', () => {
    const head = Buffer.from('MESSAGE\ncontent-length:5000\n\n');
    expect(() => parse([head], { maxFrameBytes: 1_000 })).toThrow(expect.objectContaining({ code: 'BENCH_STOMP_LIMIT' }));
  });

  it('refuses an unterminated frame once it passes maxFrameBytes', () => {
    const parser = new StompParser({ frame: () => undefined, heartbeat: () => undefined }, { maxFrameBytes: 64 });
    parser.push(Buffer.from('MESSAGE\nack:1\n\n'));
    expect(() => parser.push(Buffer.alloc(100, 0x61))).toThrow(expect.objectContaining({ code: 'BENCH_STOMP_LIMIT' }));
  });

  it('refuses more than maxHeaders header lines', () => {
    const frame = Buffer.from(`MESSAGE\n${'a:1\n'.repeat(5)}\n\0`);
    expect(() => parse([frame], { maxHeaders: 4 })).toThrow(expect.objectContaining({ code: 'BENCH_STOMP_LIMIT' }));
    expect(parse([frame], { maxHeaders: 5 })).toHaveLength(1);
  });
});

describe('buildFrame', () => {
  it('escapes header values (STOMP 1.2) except when told not to (CONNECT)', () => {
    expect(buildFrame('SEND', [['note', 'a:b\nc\\']], Buffer.from('x')).toString('latin1')).toBe('SEND\nnote:a\\cb\\nc\\\\\n\nx\0');
    expect(buildFrame('CONNECT', [['login', 'a:b']], undefined, false).toString('latin1')).toBe('CONNECT\nlogin:a:b\n\n\0');
  });
});

describe('digitsAt', () => {
  it('reads decimal digits and refuses anything else', () => {
    expect(digitsAt(Buffer.from('x0000000042y'), 1, 11)).toBe(42);
    expect(() => digitsAt(Buffer.from('4a'), 0, 2)).toThrow(StompParseError);
    expect(() => digitsAt(Buffer.from(''), 0, 0)).toThrow(StompParseError);
  });
});
