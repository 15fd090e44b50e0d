import { describe, it, expect } from 'vitest';
import { hasCode } from '../../src/core/errors.js';
import {
  DEFAULT_DESTINATION_OPTIONS,
  durableQueueName,
  parseDestination,
  tempQueueName,
  topicDestination,
} from '../../protocols/stomp/destinations.js';

const dotted = { ...DEFAULT_DESTINATION_OPTIONS, dottedTopics: true };

function problem(text: string, use: 'send' | 'subscribe', options = DEFAULT_DESTINATION_OPTIONS): boolean {
  try {
    parseDestination(text, use, options);
    return false;
  } catch (err) {
    expect(hasCode(err, 'STOMP_DESTINATION_INVALID')).toBe(true);
    return true;
  }
}

describe('parseDestination', () => {
  it('reads /topic, /queue and /temp-queue', () => {
    expect(parseDestination('/topic/a/b', 'send')).toEqual({ kind: 'topic', topic: 'a/b' });
    expect(parseDestination('/queue/orders.eu', 'send')).toEqual({ kind: 'queue', queue: 'orders.eu' });
    expect(parseDestination('/temp-queue/r', 'subscribe')).toEqual({ kind: 'temp-queue', name: 'r' });
  });

  it('accepts MQTT wildcards and $share only when subscribing', () => {
    expect(parseDestination('/topic/a/+/c/#', 'subscribe')).toEqual({ kind: 'topic', topic: 'a/+/c/#' });
    expect(parseDestination('/topic/$share/g/a/#', 'subscribe')).toEqual({ kind: 'topic', topic: '$share/g/a/#' });
    expect(problem('/topic/a/+', 'send')).toBe(true);
    expect(problem('/topic/a/#/b', 'subscribe')).toBe(true);
    expect(problem('/topic/a+', 'subscribe')).toBe(true);
    expect(problem('/topic/$SYS/broker/uptime', 'send')).toBe(true);
    expect(problem('/topic/$share/g/x', 'send')).toBe(true);
    expect(parseDestination('/topic/$SYS/#', 'subscribe')).toEqual({ kind: 'topic', topic: '$SYS/#' });
  });

  it('rejects unknown prefixes, empty names, control characters and long queue names', () => {
    for (const text of ['', 'a/b', '/exchange/x', '/topic/', '/queue/', '/temp-queue/', '/queue/a\u0001b', `/queue/${'q'.repeat(256)}`]) {
      expect(problem(text, 'send'), text).toBe(true);
    }
    expect(problem(`/queue/${'q'.repeat(255)}`, 'send')).toBe(false);
  });

  it('applies topic limits', () => {
    const options = { ...DEFAULT_DESTINATION_OPTIONS, topicLimits: { maxTopicBytes: 8, maxTopicLevels: 2 } };
    expect(problem('/topic/a/b/c', 'send', options)).toBe(true);
    expect(problem('/topic/abcdefghi', 'send', options)).toBe(true);
    expect(problem('/topic/a/b', 'send', options)).toBe(false);
  });

  it('dotted compatibility: a.b.c, * and > (or #), and slash form still works', () => {
    expect(parseDestination('/topic/a.b.c', 'send', dotted)).toEqual({ kind: 'topic', topic: 'a/b/c' });
    expect(parseDestination('/topic/a.*.c', 'subscribe', dotted)).toEqual({ kind: 'topic', topic: 'a/+/c' });
    expect(parseDestination('/topic/a.>', 'subscribe', dotted)).toEqual({ kind: 'topic', topic: 'a/#' });
    expect(parseDestination('/topic/a.#', 'subscribe', dotted)).toEqual({ kind: 'topic', topic: 'a/#' });
    expect(parseDestination('/topic/a/b.c', 'send', dotted)).toEqual({ kind: 'topic', topic: 'a/b.c' });
    expect(problem('/topic/a.*', 'send', dotted)).toBe(true);
    // Off by default: a dot is just a character.
    expect(parseDestination('/topic/a.b', 'send')).toEqual({ kind: 'topic', topic: 'a.b' });
  });
});

describe('topicDestination', () => {
  it('writes slash form by default', () => {
    expect(topicDestination('a/b/c', false)).toBe('/topic/a/b/c');
  });

  it('writes dotted form in compatibility mode when it reads back the same', () => {
    expect(topicDestination('a/b/c', true)).toBe('/topic/a.b.c');
    expect(topicDestination('a/+/#', true)).toBe('/topic/a.*.>');
    expect(topicDestination('single', true)).toBe('/topic/single');
    // A level holding a dot would be split when read back: slash form keeps it.
    expect(topicDestination('a/b.c', true)).toBe('/topic/a/b.c');
    for (const topic of ['a/b/c', 'x/y.z', 'a//b', '/lead', 'one']) {
      const back = parseDestination(topicDestination(topic, true), 'send', dotted);
      expect(back).toEqual({ kind: 'topic', topic });
    }
  });
});

describe('queue names', () => {
  it('names temp and durable queues', () => {
    expect(tempQueueName('S1', 'r')).toBe('temp.S1.r');
    expect(durableQueueName('app', 'alerts')).toBe('durable.app.alerts');
  });
});
