import type { Duplex } from 'node:stream';

/**
 * Writes `goodbye` (a DISCONNECT, say) and ends `socket`; resolves once it has
 * closed or `timeoutMs` has passed, and destroys it either way.
 */
export async function endWith(socket: Duplex, goodbye: Buffer, timeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  socket.end(goodbye);
  await closed;
  socket.destroy();
}
