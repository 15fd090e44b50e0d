import { describe, expect, it } from 'vitest';
import { DEFAULT_MQTT_WS_PATH, mqttWebSocketUrl } from '../../bench/mqtt-raw.js';

describe('mqttWebSocketUrl', () => {
  it('defaults to Roost’s MQTT path', () => {
    expect(DEFAULT_MQTT_WS_PATH).toBe('/mqtt');
    expect(mqttWebSocketUrl('127.0.0.1', 8080)).toBe('ws://127.0.0.1:8080/mqtt');
  });

  it('keeps the given path and query', () => {
    expect(mqttWebSocketUrl('localhost', 18080, '/ws/mqtt?token=x')).toBe('ws://localhost:18080/ws/mqtt?token=x');
  });

  it('brackets an IPv6 host once', () => {
    expect(mqttWebSocketUrl('::1', 8080)).toBe('ws://[::1]:8080/mqtt');
    expect(mqttWebSocketUrl('[::1]', 8080)).toBe('ws://[::1]:8080/mqtt');
  });

  it('refuses a relative path and an impossible port', () => {
    expect(() => mqttWebSocketUrl('127.0.0.1', 8080, 'mqtt')).toThrow(RangeError);
    expect(() => mqttWebSocketUrl('127.0.0.1', 0)).toThrow(RangeError);
    expect(() => mqttWebSocketUrl('127.0.0.1', 65_536)).toThrow(RangeError);
    expect(() => mqttWebSocketUrl('127.0.0.1', 80.5)).toThrow(RangeError);
  });
});
