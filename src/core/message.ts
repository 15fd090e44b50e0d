/**
 * The protocol-neutral message. Field names follow aedes' packet so the MQTT
 * path copies nothing; STOMP and later protocols translate into this shape.
 * A message is never mutated once routed: deliveries that differ per
 * subscriber (retain flag, subscription identifiers) are shallow copies.
 */

export type QoS = 0 | 1 | 2;

/** Carried as-is between protocols that can express it; see docs/mapping.md. */
export interface MessageProperties {
  readonly payloadFormatIndicator?: boolean;
  /** Seconds, as the sender gave it; `Message.expiresAt` is the absolute form. */
  readonly messageExpiryInterval?: number;
  readonly contentType?: string;
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
  /** MQTT 5 user properties ⇄ STOMP custom headers; a repeated key keeps every value. */
  readonly userProperties?: Readonly<Record<string, string | string[]>>;
}

export type Protocol = 'mqtt' | 'stomp' | 'internal';

export interface Origin {
  readonly protocol: Protocol;
  readonly clientId?: string;
  readonly user?: string;
}

export interface Message {
  readonly cmd: 'publish';
  /** Canonical MQTT form, levels split by `/`. */
  readonly topic: string;
  /** Opaque bytes, never re-encoded. */
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties?: MessageProperties;
  /** Broker-assigned, unique and increasing within one broker's lifetime. */
  readonly brokerCounter?: number;
  /** Epoch ms when the broker accepted it. */
  readonly timestamp?: number;
  /** Epoch ms after which it must not be delivered; absent means never. */
  readonly messageExpiry?: number;
  readonly origin?: Origin;
}

/** Absolute expiry for a message arriving now with an MQTT 5 expiry interval. */
export function expiryFrom(properties: MessageProperties | undefined, nowMs: number): number | undefined {
  const seconds = properties?.messageExpiryInterval;
  return seconds !== undefined && seconds > 0 ? nowMs + seconds * 1000 : undefined;
}

/** True when the message's expiry has passed at `nowMs`. */
export function isExpired(message: Pick<Message, 'messageExpiry'>, nowMs: number): boolean {
  return message.messageExpiry !== undefined && message.messageExpiry <= nowMs;
}
