import { createServer, type Server } from 'node:net';

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

/**
 * A 127.0.0.1 port that was free a moment ago and has nothing listening on it now: for a
 * child process to bind (it may lose the port to a race) or for a refused connection.
 */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  return port;
}
