import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { GatehouseConfig } from '../../config/schema.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { ConsoleSink } from './console-sink.js';
import { buildDecisionRecord, type DecisionEntry, type RecordContext } from './decision-record.js';
import type { MaskRule } from './mask.js';
import { ServiceSink, type ServiceCredentials } from './service-sink.js';
import { DecisionLogShipper } from './shipper.js';
import type { DecisionLogSink } from './sink.js';

export type DecisionLogConfig = GatehouseConfig['decisionLogs'];

export interface DecisionLogOptions {
  readonly config: DecisionLogConfig;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly version: string;
  /** The OAuth client's token and TLS, for `service.useClientAuth`. */
  readonly credentials?: ServiceCredentials | undefined;
  /** Where the console sink writes; default standard output. */
  readonly consoleStream?: Writable | undefined;
}

/** One queue per configured sink; each record is built (and masked) once per sink. */
export class DecisionLog {
  private readonly shippers: Array<DecisionLogShipper<DecisionEntry>> = [];
  /** This process's id in every record's `labels.id`, as OPA's instance id. */
  readonly instanceId = randomUUID();

  constructor(private readonly options: DecisionLogOptions) {
    const { config } = options;
    const context: RecordContext = {
      labels: { ...config.labels, id: this.instanceId, version: options.version },
      masks: config.mask.map(toMaskRule),
    };
    const sinks: DecisionLogSink[] = [];
    if (config.console) {
      sinks.push(new ConsoleSink(options.consoleStream ?? process.stdout));
    }
    if (config.service !== undefined) {
      sinks.push(
        new ServiceSink({
          url: config.service.url,
          timeoutMs: config.service.timeoutMs,
          credentials: config.service.useClientAuth ? options.credentials : undefined,
        }),
      );
    }
    for (const sink of sinks) {
      this.shippers.push(
        new DecisionLogShipper<DecisionEntry>({
          ...config,
          sink,
          encode: (entry) => JSON.stringify(buildDecisionRecord(entry, context)),
          metrics: options.metrics,
          logger: options.logger,
        }),
      );
    }
  }

  /** Whether any sink is configured (else the check path skips building entries). */
  get enabled(): boolean {
    return this.shippers.length > 0;
  }

  enqueue(entry: DecisionEntry): void {
    for (const shipper of this.shippers) shipper.enqueue(entry);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.shippers.map((shipper) => shipper.close(this.options.config.shutdownTimeoutMs)),
    );
  }
}

function toMaskRule(rule: DecisionLogConfig['mask'][number]): MaskRule {
  if (typeof rule === 'string') return { op: 'remove', path: rule };
  if (rule.op === 'remove') return { op: 'remove', path: rule.path };
  return { op: 'upsert', path: rule.path, value: rule.value };
}
