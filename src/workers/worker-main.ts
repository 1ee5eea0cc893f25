import cluster from 'node:cluster';
import { startGatehouse, type RunningGatehouse } from '../app.js';
import type { GatehouseConfig } from '../config/schema.js';
import { createLogger } from '../observability/logger.js';
import { isRecord, WORKERS_LOG, type PrimaryMessage } from './messages.js';
import { RpcChannel } from './rpc.js';
import { WorkerLink } from './worker-link.js';

/** The variable a worker reads the primary's DPoP nonce secret from, when the config names none. */
const CLUSTER_NONCE_ENV = 'GATEHOUSE_CLUSTER_DPOP_NONCE_SECRET';

/**
 * The entry of a worker process (forked by src/workers/primary.ts). It waits for the
 * primary's `init` (the validated config, the current snapshot), then starts Gatehouse's
 * check side: the same pipeline and transports as a single process, fed by the primary.
 */
function main(): void {
  if (!cluster.isWorker || process.send === undefined) {
    process.stderr.write(
      'worker-main runs only as a cluster worker of `gatehouse run` with workers > 1\n',
    );
    process.exit(2);
  }
  const send = (message: unknown): boolean => process.send?.(message) ?? false;
  const rpc = new RpcChannel(send);
  let link: WorkerLink | undefined;
  let gatehouse: RunningGatehouse | undefined;
  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    rpc.close('the worker is stopping');
    void (gatehouse?.close() ?? Promise.resolve()).finally(() => process.exit(code));
  };
  // Signals go to the primary, which stops the workers in order: a Ctrl-C reaching the
  // whole process group must not look like a crash it should repair.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  // The primary is gone (the IPC channel closed): nobody syncs snapshots any more.
  process.on('disconnect', () => {
    stop(0);
  });

  process.on('message', (raw: unknown) => {
    if (rpc.receive(raw) || !isRecord(raw)) return;
    const message = raw as PrimaryMessage;
    switch (message.t) {
      case 'init': {
        if (link !== undefined) return;
        const env: NodeJS.ProcessEnv = { ...process.env };
        let config: GatehouseConfig = message.config;
        if (config.tokens.dpop.nonce.secretEnv === undefined) {
          env[CLUSTER_NONCE_ENV] = Buffer.from(message.nonceSecret).toString('utf8');
          config = {
            ...config,
            tokens: {
              ...config.tokens,
              dpop: {
                ...config.tokens.dpop,
                nonce: { ...config.tokens.dpop.nonce, secretEnv: CLUSTER_NONCE_ENV },
              },
            },
          };
        }
        link = new WorkerLink(rpc, send, { ...message, config, env });
        const logger = createLogger(config.log).child({ worker: message.workerId });
        startGatehouse(config, { logger, env, processMetrics: true, worker: link }).then(
          (running) => {
            gatehouse = running;
            if (stopping) return;
            send({ t: 'started', grpcPort: running.grpcPort, httpPort: running.httpPort });
          },
          (error: unknown) => {
            logger.fatal({ err: error }, WORKERS_LOG.workerFailed);
            process.exit(1);
          },
        );
        return;
      }
      case 'snapshot':
        link?.snapshot(message.snapshot, message.refreshedAt);
        return;
      case 'freshness':
        link?.freshness(message.refreshedAt);
        return;
      case 'clusterReady':
        link?.clusterReady(message.ready);
        return;
      case 'shutdown':
        stop(0);
        return;
    }
  });
  send({ t: 'hello' });
}

main();
