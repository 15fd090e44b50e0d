import type { AddressInfo, Server } from 'node:net';
import { RoostError } from '../../src/core/errors.js';

/**
 * Binds `server` and resolves once it is listening, with the bound port
 * (tests pass port 0). A busy port or a bad address rejects with a RoostError
 * whose message says what to change.
 * @throws RoostError LISTEN_ADDRESS_IN_USE | LISTEN_FAILED
 */
export function listen(server: Server, host: string, port: number, what: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        reject(new RoostError('LISTEN_ADDRESS_IN_USE', `${what} port ${host}:${port} is already in use; stop the other process or choose another port`, { cause: err }));
      } else {
        reject(new RoostError('LISTEN_FAILED', `${what} cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err }));
      }
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
