import { startGatehouse } from '../app.js';
import { ConfigError, loadConfig } from '../config/load-config.js';
import { createLogger } from '../observability/logger.js';
import { LOG } from '../observability/log-messages.js';
import { startCluster, workerCount } from '../workers/primary.js';
import { missingConfiguredPaths } from './preflight.js';

/**
 * `gatehouse run`: load and validate the config, refuse missing files before any port
 * opens, start, and stop on SIGINT/SIGTERM. Resolves once the servers are up; the process
 * then lives on its listeners.
 */
export async function runGatehouse(file: string, env: NodeJS.ProcessEnv): Promise<void> {
  const config = await loadConfig(file, env);
  const missing = await missingConfiguredPaths(config);
  if (missing.length > 0) throw new ConfigError(`${file} names files that do not exist`, missing);
  const logger = createLogger(config.log);
  // workers > 1: this process becomes the cluster's primary (src/workers/primary.ts).
  const gatehouse =
    workerCount(config.workers) > 1
      ? await startCluster(config, { logger, env, processMetrics: true })
      : await startGatehouse(config, { logger, env, processMetrics: true });
  if (!gatehouse.ready) {
    logger.warn('no snapshot is active: every check is denied until the policies build');
  }
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, LOG.shuttingDown);
    // Readiness false first, then no new connections, then in-flight checks answered
    // (bounded by shutdown.drainTimeoutS): exit 0, the stop was asked for.
    // A cluster's primary stops its workers, each of which drains on its own way out.
    void ('drain' in gatehouse ? gatehouse.drain() : gatehouse.close()).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, LOG.shuttingDown);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => {
    shutdown('SIGINT');
  });
  process.on('SIGTERM', () => {
    shutdown('SIGTERM');
  });
}
