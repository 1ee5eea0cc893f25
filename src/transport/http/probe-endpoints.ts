import type { ServerResponse } from 'node:http';
import type { Authorizer } from '../../check/authorizer.js';
import type { Metrics } from '../../observability/metrics.js';
import { wantsHtml, type StatusPage } from '../../observability/status-page.js';
import { send } from './http-responses.js';

/** Health, readiness, metrics and status: on the probe port, and on the check port too. */
export const PROBE_PATHS = {
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
  status: '/status',
} as const;

export interface ProbeEndpointOptions {
  readonly authorizer: Pick<Authorizer, 'isReady'>;
  readonly metrics: Metrics;
  /** Control-loop status (sources, snapshot, last build) for GET /status. */
  readonly status?: (() => unknown) | undefined;
  /** GET /status for a browser (Accept: text/html). */
  readonly statusPage?: StatusPage | undefined;
}

/** Answers a probe path and returns true; returns false (and writes nothing) for any other. */
export async function serveProbe(
  pathname: string,
  res: ServerResponse,
  options: ProbeEndpointOptions,
  accept?: string,
): Promise<boolean> {
  switch (pathname) {
    case PROBE_PATHS.healthz:
      send(res, 200, [['content-type', 'text/plain']], 'ok\n');
      return true;
    case PROBE_PATHS.readyz: {
      const ready = options.authorizer.isReady();
      send(
        res,
        ready ? 200 : 503,
        [['content-type', 'text/plain']],
        ready ? 'ready\n' : 'no snapshot loaded\n',
      );
      return true;
    }
    case PROBE_PATHS.metrics:
      send(
        res,
        200,
        [['content-type', options.metrics.registry.contentType]],
        await options.metrics.registry.metrics(),
      );
      return true;
    case PROBE_PATHS.status:
      if (options.statusPage !== undefined && wantsHtml(accept)) {
        send(
          res,
          200,
          [['content-type', 'text/html; charset=utf-8']],
          await options.statusPage.html(),
        );
        return true;
      }
      send(
        res,
        200,
        [['content-type', 'application/json']],
        JSON.stringify(options.status?.() ?? { ready: options.authorizer.isReady() }),
      );
      return true;
    default:
      return false;
  }
}
