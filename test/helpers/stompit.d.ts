/** The part of stompit 1.0.0 (CommonJS, untyped) the STOMP integration tests use. */
declare module 'stompit' {
  import type { EventEmitter } from 'node:events';
  import type { Readable, Writable } from 'node:stream';

  export type StompitHeaders = Record<string, string | number>;

  export interface Message extends Readable {
    readonly headers: Record<string, string>;
    readString(encoding: string, callback: (err: Error | null, body?: string) => void): void;
  }

  export interface SendOptions {
    onReceipt?: () => void;
    onError?: (err: Error) => void;
  }

  export interface Subscription {
    getId(): string;
    unsubscribe(headers?: StompitHeaders): void;
  }

  export interface Transaction {
    readonly id: string;
    send(headers: StompitHeaders, options?: SendOptions): Writable;
    commit(options?: SendOptions): void;
    abort(options?: SendOptions): void;
  }

  export interface Client extends EventEmitter {
    /** Headers of the CONNECTED frame. */
    readonly headers: Record<string, string>;
    send(headers: StompitHeaders, options?: SendOptions): Writable;
    sendFrame(command: string, headers: StompitHeaders, options?: SendOptions): Writable;
    subscribe(headers: StompitHeaders, listener: (err: Error | null, message: Message) => void): Subscription;
    ack(message: Message, headers?: StompitHeaders, options?: SendOptions, callback?: (err?: Error) => void): void;
    nack(message: Message, headers?: StompitHeaders, options?: SendOptions, callback?: (err?: Error) => void): void;
    begin(headers?: StompitHeaders | string): Transaction;
    disconnect(callback?: (err: Error | null) => void): void;
    destroy(err?: Error): void;
  }

  export interface ConnectOptions {
    host: string;
    port: number;
    timeout?: number;
    connectHeaders?: StompitHeaders;
  }

  export function connect(options: ConnectOptions, callback: (err: Error | null, client: Client) => void): Client;

  const stompit: { connect: typeof connect };
  export default stompit;
}
