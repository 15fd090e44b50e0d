import { describe, it, expect } from 'vitest';
import { RoostError } from '../../src/core/errors.js';
import type { ErrorCode } from '../../src/core/errors.js';
import {
  DEFAULT_STOMP_LIMITS,
  HEARTBEAT_EOL,
  StompDecoder,
  encodeFrame,
  header,
  headerEncodable,
  negotiateVersion,
} from '../../protocols/stomp/codec.js';
import type { Decoded, StompDecoderOptions, StompFrame, StompVersion } from '../../protocols/stomp/codec.js';

// ---------------------------------------------------------------- helpers

const bytes = (...parts: Array<string | number[] | Buffer>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

const frame = (command: string, headers: ReadonlyArray<readonly [string, string]>, body: string | Buffer = ''): Decoded => ({
  kind: 'frame',
  frame: { command, headers, body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body },
});

const HB: Decoded = { kind: 'heartbeat' };

function decodeChunks(chunks: Buffer[], options?: StompDecoderOptions): Decoded[] {
  const decoder = new StompDecoder(options);
  return chunks.flatMap((c) => decoder.push(c));
}

const whole = (input: Buffer, options?: StompDecoderOptions) => decodeChunks([input], options);
const bytewise = (input: Buffer, options?: StompDecoderOptions) =>
  decodeChunks([...input].map((b) => Buffer.from([b])), options);
const splitAt = (input: Buffer, at: number, options?: StompDecoderOptions) =>
  decodeChunks([input.subarray(0, at), input.subarray(at)], options);

/** Small deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function randomSplit(input: Buffer, random: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  let pos = 0;
  while (pos < input.length) {
    const size = 1 + Math.floor(random() * Math.min(16, input.length - pos));
    chunks.push(input.subarray(pos, pos + size));
    pos += size;
  }
  return chunks;
}

/** The RoostError `fn` throws; fails the test if it throws anything else or nothing. */
function thrown(fn: () => unknown): RoostError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RoostError);
    return err as RoostError;
  }
  throw new Error('expected a RoostError, nothing was thrown');
}

function expectCode(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  const err = thrown(fn);
  expect(err.code).toBe(code);
  if (message) expect(err.message).toMatch(message);
}

/** Pushes `input` one byte at a time and returns the index of the byte whose push threw. */
function throwIndex(input: Buffer, options: StompDecoderOptions, code: ErrorCode): number {
  const decoder = new StompDecoder(options);
  for (let i = 0; i < input.length; i++) {
    try {
      decoder.push(input.subarray(i, i + 1));
    } catch (err) {
      expect(err).toBeInstanceOf(RoostError);
      expect((err as RoostError).code).toBe(code);
      return i;
    }
  }
  throw new Error('expected the decoder to throw');
}

// ---------------------------------------------------------------- sample stream

const SAMPLES: Array<{ name: string; wire: Buffer; events: Decoded[] }> = [
  {
    name: 'CONNECT, never unescaped, colon inside a value',
    wire: bytes('CONNECT\naccept-version:1.1,1.2\nhost:roost\nlogin:ann\npasscode:p:a\\ss\n\n\0'),
    events: [
      frame('CONNECT', [
        ['accept-version', '1.1,1.2'],
        ['host', 'roost'],
        ['login', 'ann'],
        ['passcode', 'p:a\\ss'],
      ]),
    ],
  },
  {
    name: 'heart-beats, LF and CRLF',
    wire: bytes('\n\r\n\n'),
    events: [HB, HB, HB],
  },
  {
    name: 'SEND with CRLF lines and a content-length body holding NULs',
    wire: bytes('SEND\r\ndestination:/queue/a\r\ncontent-length:5\r\n\r\n', [0x61, 0, 0x62, 0, 0x0a], [0]),
    events: [
      frame(
        'SEND',
        [
          ['destination', '/queue/a'],
          ['content-length', '5'],
        ],
        Buffer.from([0x61, 0, 0x62, 0, 0x0a]),
      ),
    ],
  },
  {
    name: 'SUBSCRIBE with 1.2 escapes and a repeated header',
    wire: bytes('SUBSCRIBE\nid:0\ndestination:/topic/a\\cb\\\\c\\nd\\re\nid:1\n\n\0'),
    events: [
      frame('SUBSCRIBE', [
        ['id', '0'],
        ['destination', '/topic/a:b\\c\nd\re'],
        ['id', '1'],
      ]),
    ],
  },
  {
    name: 'MESSAGE with a UTF-8 header, untrimmed values and a body up to the NUL',
    wire: bytes('MESSAGE\nsubscription:0\nx-label: caf\u00e9 \u2603 \ud83d\udc26 \nempty:\n\nhello\nworld\0\n'),
    events: [
      frame(
        'MESSAGE',
        [
          ['subscription', '0'],
          ['x-label', ' caf\u00e9 \u2603 \ud83d\udc26 '],
          ['empty', ''],
        ],
        'hello\nworld',
      ),
      HB,
    ],
  },
  {
    name: 'SEND with content-length 0',
    wire: bytes('SEND\ndestination:/queue/b\ncontent-length:0\n\n\0'),
    events: [
      frame('SEND', [
        ['destination', '/queue/b'],
        ['content-length', '0'],
      ]),
    ],
  },
  {
    name: 'DISCONNECT followed by trailing EOLs',
    wire: bytes('DISCONNECT\nreceipt:77\n\n\0\r\n\n'),
    events: [frame('DISCONNECT', [['receipt', '77']]), HB, HB],
  },
];

const STREAM = Buffer.concat(SAMPLES.map((s) => s.wire));
const STREAM_EVENTS = SAMPLES.flatMap((s) => s.events);

// ---------------------------------------------------------------- tests

describe('StompDecoder: chunking', () => {
  for (const sample of SAMPLES) {
    it(`decodes ${sample.name} whole, byte by byte and split at every offset`, () => {
      expect(whole(sample.wire)).toEqual(sample.events);
      expect(bytewise(sample.wire)).toEqual(sample.events);
      for (let at = 0; at <= sample.wire.length; at++) expect(splitAt(sample.wire, at)).toEqual(sample.events);
    });
  }

  it('decodes a stream of many frames and heart-beats in one chunk', () => {
    expect(whole(STREAM)).toEqual(STREAM_EVENTS);
  });

  it('gives the same events for the whole stream byte by byte, split at every offset, and in random pieces', () => {
    expect(bytewise(STREAM)).toEqual(STREAM_EVENTS);
    for (let at = 0; at <= STREAM.length; at++) expect(splitAt(STREAM, at)).toEqual(STREAM_EVENTS);
    const random = rng(7);
    for (let i = 0; i < 200; i++) expect(decodeChunks(randomSplit(STREAM, random))).toEqual(STREAM_EVENTS);
  });

  it('decodes 500 frames with heart-beats between them from one chunk', () => {
    const one = bytes('SEND\ndestination:/queue/a\n\nx\0\n');
    const events = whole(Buffer.concat(Array.from({ length: 500 }, () => one)));
    expect(events).toHaveLength(1000);
    expect(events.filter((e) => e.kind === 'heartbeat')).toHaveLength(500);
  });

  it('emits heart-beats as they arrive, before the next frame is complete', () => {
    const decoder = new StompDecoder();
    expect(decoder.push(bytes('\n'))).toEqual([HB]);
    expect(decoder.push(bytes('\r'))).toEqual([]);
    expect(decoder.push(bytes('\nSEND\n'))).toEqual([HB]);
    expect(decoder.push(bytes('\n\0'))).toEqual([frame('SEND', [])]);
  });

  it('returns a body that does not alias the pushed chunk', () => {
    const chunk = bytes('SEND\n\nabc\0');
    const [event] = whole(chunk);
    chunk.fill(0x7a);
    expect(event).toEqual(frame('SEND', [], 'abc'));
  });

  it('decodes a large body arriving one byte at a time in linear time', { timeout: 20_000 }, () => {
    const size = 256 * 1024;
    const body = Buffer.alloc(size, 0x61);
    for (const head of [`SEND\ncontent-length:${size}\n\n`, 'SEND\n\n']) {
      const wire = bytes(head, body, [0]);
      const decoder = new StompDecoder({ maxBodyBytes: size, maxFrameBytes: size + 64 });
      const events: Decoded[] = [];
      for (let i = 0; i < wire.length; i++) events.push(...decoder.push(wire.subarray(i, i + 1)));
      expect(events).toHaveLength(1);
      const [event] = events;
      expect(event?.kind === 'frame' && event.frame.body.equals(body)).toBe(true);
    }
  });
});

describe('StompDecoder: headers and versions', () => {
  it('keeps repeated headers in wire order; header() returns the first', () => {
    const [event] = whole(bytes('MESSAGE\nfoo:World\nfoo:Hello\nbar:1\n\n\0'));
    expect(event?.kind).toBe('frame');
    if (event?.kind !== 'frame') return;
    expect(event.frame.headers).toEqual([
      ['foo', 'World'],
      ['foo', 'Hello'],
      ['bar', '1'],
    ]);
    expect(header(event.frame, 'foo')).toBe('World');
    expect(header(event.frame, 'FOO')).toBeUndefined();
  });

  it('frames the body by the first content-length when it is repeated', () => {
    const events = whole(bytes('SEND\ncontent-length:2\ncontent-length:9\n\na\0\0'));
    expect(events).toEqual([
      frame(
        'SEND',
        [
          ['content-length', '2'],
          ['content-length', '9'],
        ],
        Buffer.from([0x61, 0]),
      ),
    ]);
  });

  it('unescapes 1.2 headers, names included, by default', () => {
    expect(whole(bytes('SEND\na\\cb:\\\\\\n\\r\\c\n\n\0'))).toEqual([frame('SEND', [['a:b', '\\\n\r:']])]);
  });

  it('never unescapes CONNECT, STOMP or CONNECTED, even with undefined escapes', () => {
    for (const command of ['CONNECT', 'STOMP', 'CONNECTED']) {
      expect(whole(bytes(`${command}\nlogin:a\\nb\npasscode:x\\ty\\c\n\n\0`))).toEqual([
        frame(command, [
          ['login', 'a\\nb'],
          ['passcode', 'x\\ty\\c'],
        ]),
      ]);
    }
  });

  it('switches to the version a CONNECT negotiates, within the same chunk', () => {
    const send = 'SEND\nx:a\\nb\\\\\n\n\0';
    // 1.1: \n and \\ are defined, \r is not.
    expect(whole(bytes('CONNECT\naccept-version:1.0,1.1\n\n\0', send))[1]).toEqual(frame('SEND', [['x', 'a\nb\\']]));
    expectCode(() => whole(bytes('CONNECT\naccept-version:1.1\n\n\0SEND\nx:\\r\n\n\0')), 'STOMP_FRAME_MALFORMED');
    // No accept-version means 1.0: backslashes are plain text.
    expect(whole(bytes('CONNECT\n\n\0', 'SEND\npath:C:\\dir\\tmp\\n\n\n\0'))[1]).toEqual(
      frame('SEND', [['path', 'C:\\dir\\tmp\\n']]),
    );
    expect(whole(bytes('STOMP\naccept-version:1.2\n\n\0', send))[1]).toEqual(frame('SEND', [['x', 'a\nb\\']]));
  });

  it('negotiates only among supportedVersions', () => {
    const decoder = new StompDecoder({ supportedVersions: ['1.0', '1.1'] });
    decoder.push(bytes('CONNECT\naccept-version:1.1,1.2\n\n\0'));
    expect(decoder.version).toBe('1.1');
    // No common version: the session refuses; the decoder keeps its rules.
    decoder.push(bytes('CONNECT\naccept-version:2.0\n\n\0'));
    expect(decoder.version).toBe('1.1');
  });

  it('follows the version a CONNECTED names, 1.0 when it names none', () => {
    const decoder = new StompDecoder();
    decoder.push(bytes('CONNECTED\nversion:1.1\n\n\0'));
    expect(decoder.version).toBe('1.1');
    decoder.push(bytes('CONNECTED\n\n\0'));
    expect(decoder.version).toBe('1.0');
  });

  it('applies a version set by option or property to the frames after it', () => {
    expect(whole(bytes('SEND\nx:a\\tb\n\n\0'), { version: '1.0' })).toEqual([frame('SEND', [['x', 'a\\tb']])]);
    const decoder = new StompDecoder();
    decoder.version = '1.0';
    expect(decoder.push(bytes('SEND\nx:\\c\n\n\0'))).toEqual([frame('SEND', [['x', '\\c']])]);
    expect(() => {
      decoder.version = '2.0' as StompVersion;
    }).toThrow(RangeError);
  });

  it('splits a header at its first colon and keeps later colons in the value', () => {
    expect(whole(bytes('SEND\nreply-to:http://x:80/a\n\n\0'))).toEqual([frame('SEND', [['reply-to', 'http://x:80/a']])]);
  });
});

describe('negotiateVersion', () => {
  it('picks the highest common version; a missing header means 1.0', () => {
    expect(negotiateVersion(undefined)).toBe('1.0');
    expect(negotiateVersion('1.0,1.1,2.0')).toBe('1.1');
    expect(negotiateVersion('1.2, 1.1')).toBe('1.2');
    expect(negotiateVersion('1.2', ['1.0', '1.1'])).toBeUndefined();
    expect(negotiateVersion('')).toBeUndefined();
  });
});

describe('StompDecoder: malformed input', () => {
  const cases: Array<[string, Buffer]> = [
    ['a NUL where the command should be', bytes('\0')],
    ['a header line where the command should be', bytes('destination:/a\n\n\0')],
    ['a command with trailing space', bytes('SEND \n\n\0')],
    ['a command that is not UTF-8', bytes([0xff, 0xfe], '\n\n\0')],
    ['a header line without a colon', bytes('SEND\nnocolon\n\n\0')],
    ['a header with an empty name', bytes('SEND\n:value\n\n\0')],
    ['a header value that is not UTF-8', bytes('SEND\na:', [0xc3, 0x28], '\n\n\0')],
    ['a header encoding a surrogate', bytes('SEND\na:', [0xed, 0xa0, 0x80], '\n\n\0')],
    ['a header name that is not UTF-8', bytes('SEND\n', [0x80], ':v\n\n\0')],
    ['an undefined escape \\t', bytes('SEND\ndestination:/a\\tb\n\n\0')],
    ['an undefined escape in a name', bytes('SEND\na\\x:b\n\n\0')],
    ['a trailing backslash', bytes('SEND\na:b\\\n\n\0')],
    ['a NUL before the blank line', bytes('SEND\n\0')],
    ['a NUL inside a header', bytes('SEND\na:b\0c\n\n\0')],
    ['a CR between frames not followed by LF', bytes('\rSEND\n\n\0')],
    ['a content-length body not followed by NUL', bytes('SEND\ncontent-length:3\n\nabcd\0')],
    ...['abc', '-1', '1.5', '', ' 3', '3 ', '0x3', '1e3'].map(
      (v): [string, Buffer] => [`content-length ${JSON.stringify(v)}`, bytes(`SEND\ncontent-length:${v}\n\n\0`)],
    ),
  ];

  for (const [name, input] of cases) {
    it(`rejects ${name} as STOMP_FRAME_MALFORMED, whole and byte by byte`, () => {
      expectCode(() => whole(input), 'STOMP_FRAME_MALFORMED');
      expectCode(() => bytewise(input), 'STOMP_FRAME_MALFORMED');
    });
  }

  it('rejects \\r as an undefined escape under 1.1', () => {
    expectCode(() => whole(bytes('SEND\na:\\r\n\n\0'), { version: '1.1' }), 'STOMP_FRAME_MALFORMED', /\\\\r/);
  });

  it('rejects a NUL before the blank line without waiting for more bytes', () => {
    const decoder = new StompDecoder();
    expectCode(() => decoder.push(bytes('DISCONNECT\n\0')), 'STOMP_FRAME_MALFORMED');
  });

  it('rejects a missing NUL as soon as the byte after the body arrives', () => {
    const input = bytes('SEND\ncontent-length:3\n\nabcX');
    expect(throwIndex(input, {}, 'STOMP_FRAME_MALFORMED')).toBe(input.length - 1);
  });

  it('is dead after a throw: every later push throws the same error', () => {
    const decoder = new StompDecoder();
    const first = thrown(() => decoder.push(bytes('SEND\nbad\n\n\0')));
    expect(thrown(() => decoder.push(bytes('SEND\n\n\0')))).toBe(first);
    expect(thrown(() => decoder.push(Buffer.alloc(0)))).toBe(first);
  });

  it('drops frames completed earlier in a chunk that then fails', () => {
    expectCode(() => whole(bytes('SEND\n\nok\0SEND\nbad\n\n\0')), 'STOMP_FRAME_MALFORMED');
  });
});

describe('StompDecoder: limits', () => {
  const small = { maxFrameBytes: 200, maxHeaders: 3, maxHeaderLineBytes: 32, maxBodyBytes: 64 };

  it('has documented defaults and rejects limits that are not positive integers', () => {
    expect(new StompDecoder().limits).toEqual(DEFAULT_STOMP_LIMITS);
    expect(new StompDecoder({ maxHeaders: 5 }).limits.maxHeaders).toBe(5);
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new StompDecoder({ maxBodyBytes: bad })).toThrow(RangeError);
    }
    expect(() => new StompDecoder({ supportedVersions: ['3.0' as StompVersion] })).toThrow(RangeError);
  });

  it('accepts each sample at its exact bounds and rejects it one below, whole and byte by byte', () => {
    for (const { wire } of SAMPLES) {
      const events = whole(wire);
      const frames = events.flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));
      if (frames.length === 0) continue;
      const framed = frames[0] as StompFrame;
      // Every frame sample starts at byte 0 and ends at its last NUL.
      const frameBytes = wire.lastIndexOf(0) + 1;
      const headerSection = wire.toString('latin1').split(/\r?\n\r?\n/)[0] ?? '';
      const longestLine = Math.max(...headerSection.split(/\r?\n/).map((line) => line.length));
      const exact: StompDecoderOptions = {
        maxFrameBytes: frameBytes,
        maxHeaders: Math.max(1, framed.headers.length),
        maxHeaderLineBytes: longestLine,
        maxBodyBytes: Math.max(1, framed.body.length),
      };
      expect(whole(wire, exact)).toEqual(events);
      expect(bytewise(wire, exact)).toEqual(events);
      for (let at = 0; at <= wire.length; at++) expect(splitAt(wire, at, exact)).toEqual(events);
      const below: Array<[keyof typeof exact, number]> = [
        ['maxFrameBytes', frameBytes - 1],
        ['maxHeaderLineBytes', longestLine - 1],
      ];
      if (framed.headers.length > 0) below.push(['maxHeaders', framed.headers.length - 1]);
      if (framed.body.length > 0) below.push(['maxBodyBytes', framed.body.length - 1]);
      for (const [key, value] of below) {
        if (value < 1) continue;
        const options = { ...exact, [key]: value };
        const limit = new RegExp(key);
        expectCode(() => whole(wire, options), 'STOMP_LIMIT_EXCEEDED', limit);
        expectCode(() => bytewise(wire, options), 'STOMP_LIMIT_EXCEEDED', limit);
      }
    }
  });

  it('rejects an over-long header line before its newline arrives', () => {
    const input = bytes('SEND\n', 'x:'.padEnd(40, 'y'));
    // 'SEND\n' is 5 bytes; the 33rd byte of the header line is index 37.
    expect(throwIndex(input, small, 'STOMP_LIMIT_EXCEEDED')).toBe(5 + 32);
    expectCode(() => whole(input, small), 'STOMP_LIMIT_EXCEEDED', /maxHeaderLineBytes/);
  });

  it('does not count the CR of a CRLF against maxHeaderLineBytes', () => {
    const line = 'x:'.padEnd(32, 'y');
    const decoder = new StompDecoder(small);
    expect(decoder.push(bytes('SEND\r\n', line, '\r'))).toEqual([]);
    expect(decoder.push(bytes('\n\r\n\0'))).toEqual([frame('SEND', [['x', line.slice(2)]])]);
  });

  it('rejects an over-long command line before its newline arrives', () => {
    const input = bytes('S'.repeat(40));
    expect(throwIndex(input, small, 'STOMP_LIMIT_EXCEEDED')).toBe(32);
  });

  it('rejects one header too many at its first byte', () => {
    const decoder = new StompDecoder(small);
    expect(decoder.push(bytes('SEND\na:1\nb:2\nc:3\n'))).toEqual([]);
    expectCode(() => decoder.push(bytes('d')), 'STOMP_LIMIT_EXCEEDED', /maxHeaders/);
    expect(whole(bytes('SEND\na:1\nb:2\nc:3\n\n\0'), small)).toHaveLength(1);
  });

  it('rejects a content-length above maxBodyBytes when the header line ends', () => {
    const decoder = new StompDecoder(small);
    expectCode(() => decoder.push(bytes('SEND\ncontent-length:65\n')), 'STOMP_LIMIT_EXCEEDED', /maxBodyBytes/);
    expectCode(
      () => new StompDecoder(small).push(bytes('SEND\ncontent-length:99999999999999999999999\n')),
      'STOMP_LIMIT_EXCEEDED',
    );
    expect(whole(bytes('SEND\ncontent-length:64\n\n', Buffer.alloc(64), [0]), small)).toHaveLength(1);
  });

  it('rejects a content-length that makes the frame too large when the header line ends', () => {
    const options = { ...small, maxBodyBytes: 1_000, maxFrameBytes: 100 };
    const head = 'SEND\ncontent-length:80\n';
    const input = bytes(head, '\n', Buffer.alloc(80), [0]);
    expect(throwIndex(input, options, 'STOMP_LIMIT_EXCEEDED')).toBe(head.length - 1);
  });

  it('rejects a NUL-terminated body as soon as it passes maxBodyBytes', () => {
    const head = 'SEND\n\n';
    const input = bytes(head, Buffer.alloc(100, 0x61), [0]);
    expect(throwIndex(input, small, 'STOMP_LIMIT_EXCEEDED')).toBe(head.length + 64);
    expectCode(() => whole(input, small), 'STOMP_LIMIT_EXCEEDED', /maxBodyBytes/);
  });

  it('rejects a frame as soon as its header lines pass maxFrameBytes', () => {
    const options = { ...small, maxHeaders: 100, maxFrameBytes: 50 };
    const input = bytes('SEND\n', 'a:1234567890\n'.repeat(10));
    const at = throwIndex(input, options, 'STOMP_LIMIT_EXCEEDED');
    // The frame is at least the bytes so far plus LF, blank line and NUL: 48 + 3 > 50 at index 47.
    expect(at).toBe(47);
  });

  it('never keeps more than a frame: a long garbage line is stopped at the bound', () => {
    const decoder = new StompDecoder(small);
    expectCode(() => {
      for (let i = 0; i < 1_000; i++) decoder.push(Buffer.alloc(16, 0x41));
    }, 'STOMP_LIMIT_EXCEEDED');
  });
});

describe('StompDecoder: hostile input', () => {
  const TOKENS: Array<string | number[]> = [
    '\n',
    '\r\n',
    '\r',
    '\0',
    ':',
    '\\',
    '\\n',
    '\\c',
    '\\r',
    '\\t',
    'SEND\n',
    'CONNECT\n',
    'CONNECT\naccept-version:1.0\n',
    'MESSAGE\n',
    'content-length:',
    'accept-version:1.1\n',
    '0',
    '5',
    '17',
    '99999999999999999999',
    'destination:/q',
    'a',
    '\u00e9',
    [0xff],
    [0xc3],
    [0xed, 0xa0, 0x80],
  ];

  const pick = <T,>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

  function tokenSoup(random: () => number, count: number): Buffer {
    const parts: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      if (random() < 0.15) {
        parts.push(Buffer.from([Math.floor(random() * 256)]));
      } else {
        const token = pick(random, TOKENS);
        parts.push(typeof token === 'string' ? Buffer.from(token) : Buffer.from(token));
      }
    }
    return Buffer.concat(parts);
  }

  /** Mostly well-formed frames and heart-beats, so that the deep states are reached too. */
  function nearlyValid(random: () => number): Buffer {
    const parts: Buffer[] = [];
    for (let f = 1 + Math.floor(random() * 4); f > 0; f--) {
      while (random() < 0.3) parts.push(Buffer.from(pick(random, ['\n', '\r\n'])));
      const eol = pick(random, ['\n', '\r\n']);
      const body = tokenSoup(random, Math.floor(random() * 6));
      const lines = [pick(random, ['SEND', 'CONNECT', 'STOMP', 'MESSAGE', 'SUBSCRIBE', 'ACK', 'CONNECTED'])];
      for (let h = Math.floor(random() * 5); h > 0; h--) {
        lines.push(
          pick(random, [
            'destination:/queue/a',
            `content-length:${body.length}`,
            `content-length:${Math.floor(random() * 40)}`,
            pick(random, ['accept-version:1.0', 'accept-version:1.1', 'accept-version:1.1,1.2', 'version:1.1']),
            `x:${tokenSoup(random, Math.floor(random() * 4)).toString('latin1')}`,
          ]),
        );
      }
      parts.push(Buffer.from(lines.join(eol) + eol + eol, 'latin1'), body, Buffer.from([0]));
    }
    let input = Buffer.concat(parts);
    for (let m = Math.floor(random() * 3); m > 0 && input.length > 0; m--) {
      const at = Math.floor(random() * input.length);
      const kind = random();
      if (kind < 0.33) input = Buffer.concat([input.subarray(0, at), input.subarray(at + 1)]);
      else if (kind < 0.66) input[at] = Math.floor(random() * 256);
      else input = Buffer.concat([input.subarray(0, at), tokenSoup(random, 1), input.subarray(at)]);
    }
    return input;
  }

  const garbage = (random: () => number): Buffer =>
    random() < 0.7 ? nearlyValid(random) : tokenSoup(random, Math.floor(random() * 60));

  function outcome(chunks: Buffer[], options: StompDecoderOptions): { events?: Decoded[]; error?: RoostError } {
    try {
      return { events: decodeChunks(chunks, options) };
    } catch (err) {
      expect(err).toBeInstanceOf(RoostError);
      expect(['STOMP_FRAME_MALFORMED', 'STOMP_LIMIT_EXCEEDED']).toContain((err as RoostError).code);
      return { error: err as RoostError };
    }
  }

  it('throws only RoostError on 2,000 random inputs, and chunking never changes the outcome', () => {
    const random = rng(20_261_125);
    for (let i = 0; i < 2_000; i++) {
      const input = garbage(random);
      const options: StompDecoderOptions =
        random() < 0.5 ? {} : { maxFrameBytes: 80, maxHeaders: 3, maxHeaderLineBytes: 24, maxBodyBytes: 32 };
      const one = outcome([input], options);
      const many = outcome(randomSplit(input, random), options);
      expect(many.error !== undefined, `input #${i}: ${JSON.stringify(input.toString('latin1'))}`).toBe(
        one.error !== undefined,
      );
      if (one.events) {
        expect(many.events).toEqual(one.events);
        for (const event of one.events) {
          if (event.kind !== 'frame') continue;
          expect(event.frame.body.length).toBeLessThanOrEqual(options.maxBodyBytes ?? DEFAULT_STOMP_LIMITS.maxBodyBytes);
          expect(event.frame.headers.length).toBeLessThanOrEqual(options.maxHeaders ?? DEFAULT_STOMP_LIMITS.maxHeaders);
        }
      }
    }
  });
});

describe('encodeFrame', () => {
  const send = (headers: Array<[string, string]>, body = ''): StompFrame => ({
    command: 'SEND',
    headers,
    body: Buffer.from(body),
  });

  it('writes command, headers, blank line, body and NUL, adding content-length for a body', () => {
    expect(encodeFrame(send([['destination', '/queue/a']], 'hi'), '1.2').toString()).toBe(
      'SEND\ndestination:/queue/a\ncontent-length:2\n\nhi\0',
    );
    expect(encodeFrame(send([['destination', '/queue/a']]), '1.2').toString()).toBe('SEND\ndestination:/queue/a\n\n\0');
  });

  it("keeps the caller's content-length and refuses one that does not match the body", () => {
    expect(encodeFrame(send([['content-length', '2']], 'hi'), '1.2').toString()).toBe('SEND\ncontent-length:2\n\nhi\0');
    expect(encodeFrame(send([['content-length', '0']]), '1.0').toString()).toBe('SEND\ncontent-length:0\n\n\0');
    expectCode(() => encodeFrame(send([['content-length', '3']], 'hi'), '1.2'), 'STOMP_FRAME_UNENCODABLE');
    expectCode(() => encodeFrame(send([['content-length', 'x']], 'hi'), '1.2'), 'STOMP_FRAME_UNENCODABLE');
  });

  it('escapes per version and never in CONNECT or CONNECTED', () => {
    const headers: Array<[string, string]> = [['a:b', 'c\nd\\e:f']];
    expect(encodeFrame(send(headers), '1.2').toString()).toBe('SEND\na\\cb:c\\nd\\\\e\\cf\n\n\0');
    expect(encodeFrame(send([['x', 'a\rb']]), '1.2').toString()).toBe('SEND\nx:a\\rb\n\n\0');
    expect(encodeFrame(send(headers), '1.1').toString()).toBe('SEND\na\\cb:c\\nd\\\\e\\cf\n\n\0');
    expect(encodeFrame(send([['x', 'C:\\dir']]), '1.0').toString()).toBe('SEND\nx:C:\\dir\n\n\0');
    const connected: StompFrame = { command: 'CONNECTED', headers: [['server', 'roost:1\\x']], body: Buffer.alloc(0) };
    expect(encodeFrame(connected, '1.2').toString()).toBe('CONNECTED\nserver:roost:1\\x\n\n\0');
  });

  it('refuses what the version cannot carry', () => {
    expectCode(() => encodeFrame(send([['x', 'a\rb']]), '1.1'), 'STOMP_FRAME_UNENCODABLE');
    expectCode(() => encodeFrame(send([['x', 'a\nb']]), '1.0'), 'STOMP_FRAME_UNENCODABLE');
    expectCode(() => encodeFrame(send([['a:b', 'c']]), '1.0'), 'STOMP_FRAME_UNENCODABLE');
    expectCode(() => encodeFrame(send([['x', 'a\0b']]), '1.2'), 'STOMP_FRAME_UNENCODABLE');
    expectCode(() => encodeFrame(send([['', 'b']]), '1.2'), 'STOMP_FRAME_UNENCODABLE');
    const connect: StompFrame = { command: 'CONNECT', headers: [['login', 'a\nb']], body: Buffer.alloc(0) };
    expectCode(() => encodeFrame(connect, '1.2'), 'STOMP_FRAME_UNENCODABLE');
    expectCode(() => encodeFrame({ ...connect, command: 'SE ND' }, '1.2'), 'STOMP_FRAME_UNENCODABLE');
    expect(headerEncodable('SEND', 'x', 'a\nb', '1.2')).toBe(true);
    expect(headerEncodable('SEND', 'x', 'a\nb', '1.0')).toBe(false);
    expect(headerEncodable('CONNECTED', 'x', 'a\nb', '1.2')).toBe(false);
  });

  it('HEARTBEAT_EOL is one LF and decodes as a heart-beat', () => {
    expect(HEARTBEAT_EOL.toString()).toBe('\n');
    expect(whole(HEARTBEAT_EOL)).toEqual([HB]);
  });

  it('round-trips a binary body holding every byte value', () => {
    const body = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    const wire = encodeFrame({ command: 'MESSAGE', headers: [['subscription', '1']], body }, '1.2');
    expect(bytewise(wire)).toEqual([frame('MESSAGE', [['subscription', '1'], ['content-length', '512']], body)]);
  });

  it('round-trips random frames under every version, whole and in random pieces', () => {
    const random = rng(42);
    const alphabet = ['a', 'Z', '0', ' ', ':', '\\', '\n', '\r', '\t', '\u00e9', '\u2603', '\ud83d\udc26', '-', '/'];
    const text = (max: number): string =>
      Array.from({ length: Math.floor(random() * max) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    const commands = ['SEND', 'MESSAGE', 'SUBSCRIBE', 'ACK', 'ERROR', 'RECEIPT', 'CONNECT', 'CONNECTED', 'STOMP'];
    for (let i = 0; i < 500; i++) {
      const version = (['1.0', '1.1', '1.2'] as const)[i % 3] as StompVersion;
      const command = commands[Math.floor(random() * commands.length)] as string;
      const headers: Array<[string, string]> = [];
      for (let h = Math.floor(random() * 6); h > 0; h--) {
        const name = `h${text(6)}`;
        const value = text(12);
        if (headerEncodable(command, name, value, version)) headers.push([name, value]);
      }
      const body = Buffer.from(Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256)));
      const wire = encodeFrame({ command, headers, body }, version);
      const expected = body.length > 0 ? [...headers, ['content-length', String(body.length)] as [string, string]] : headers;
      const events = [frame(command, expected, body)];
      expect(whole(wire, { version })).toEqual(events);
      expect(decodeChunks(randomSplit(wire, random), { version })).toEqual(events);
    }
  });

  it('round-trips a stream of encoded frames with heart-beats between them', () => {
    const frames: StompFrame[] = [
      { command: 'MESSAGE', headers: [['destination', '/topic/a:b\nc']], body: Buffer.from([0, 1, 2, 0]) },
      { command: 'RECEIPT', headers: [['receipt-id', '\\77']], body: Buffer.alloc(0) },
      { command: 'ERROR', headers: [['message', 'bad\r\nframe']], body: Buffer.from('details\n') },
    ];
    const wire = Buffer.concat(frames.flatMap((f) => [encodeFrame(f, '1.2'), HEARTBEAT_EOL]));
    const expected = frames.flatMap((f) => [
      frame(
        f.command,
        f.body.length > 0 ? [...f.headers, ['content-length', String(f.body.length)]] : [...f.headers],
        f.body,
      ),
      HB,
    ]);
    expect(whole(wire)).toEqual(expected);
    expect(bytewise(wire)).toEqual(expected);
  });
});
