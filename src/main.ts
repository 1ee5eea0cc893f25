#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { startGatehouse } from './app.js';
import { ConfigError, loadConfig } from './config/load-config.js';
import { createLogger } from './observability/logger.js';
import { LOG } from './observability/log-messages.js';
import { OpaNotFoundError } from './policy/opa-binary.js';

const USAGE = `usage: gatehouse [--config FILE]

  --config FILE   configuration file (YAML or JSON); default: $GATEHOUSE_CONFIG or ./gatehouse.yaml
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const file = values.config ?? process.env.GATEHOUSE_CONFIG ?? 'gatehouse.yaml';
  const config = await loadConfig(file);
  const logger = createLogger(config.log);
  const gatehouse = await startGatehouse(config, { logger, processMetrics: true });
  if (!gatehouse.ready) {
    logger.warn('no snapshot is active: every check is denied until the policies build');
  }
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, LOG.shuttingDown);
    void gatehouse.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => {
    shutdown('SIGINT');
  });
  process.on('SIGTERM', () => {
    shutdown('SIGTERM');
  });
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof OpaNotFoundError) {
    process.stderr.write(`gatehouse: ${error.message}\n`);
  } else {
    process.stderr.write(
      `gatehouse: failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exit(1);
});
