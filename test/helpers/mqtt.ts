import mqtt, { type IClientOptions, type MqttClient, type IPublishPacket } from 'mqtt';

export type ProtocolVersion = 3 | 4 | 5;

/** Connects an MQTT.js client and resolves once CONNACK arrived. */
export async function connect(port: number, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...options,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  client.removeAllListeners('error');
  client.on('error', () => undefined);
  return client;
}

/** Resolves with the next `count` messages the client receives. */
export function nextMessages(client: MqttClient, count: number, timeoutMs = 5_000): Promise<IPublishPacket[]> {
  return new Promise((resolve, reject) => {
    const got: IPublishPacket[] = [];
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`received ${got.length} of ${count} messages`));
    }, timeoutMs);
    const onMessage = (_topic: string, _payload: Buffer, packet: IPublishPacket): void => {
      got.push(packet);
      if (got.length === count) {
        clearTimeout(timer);
        client.off('message', onMessage);
        resolve(got);
      }
    };
    client.on('message', onMessage);
  });
}

/** Resolves after `ms` with the messages received meanwhile (to assert that none came). */
export function messagesWithin(client: MqttClient, ms: number): Promise<IPublishPacket[]> {
  return new Promise((resolve) => {
    const got: IPublishPacket[] = [];
    const onMessage = (_topic: string, _payload: Buffer, packet: IPublishPacket): void => {
      got.push(packet);
    };
    client.on('message', onMessage);
    setTimeout(() => {
      client.off('message', onMessage);
      resolve(got);
    }, ms);
  });
}

export async function end(...clients: (MqttClient | undefined)[]): Promise<void> {
  await Promise.all(clients.map((c) => (c ? c.endAsync(true).catch(() => undefined) : undefined)));
}
