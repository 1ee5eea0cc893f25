import type { Server } from 'node:net';

/** Listens on 127.0.0.1, port 0 (a free port the kernel picks), and answers the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('not a TCP listener');
  return address.port;
}

/** Stops an HTTP(S) server now: keep-alive connections are cut rather than waited for. */
export async function closeServer(server: {
  closeAllConnections(): void;
  close(callback: () => void): unknown;
}): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}
