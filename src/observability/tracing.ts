import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import type { CheckInput } from '../check/check-input.js';
import type { Decision } from '../decision/decision.js';
import { gatehouseVersion } from '../cli/version.js';
import type { GatehouseConfig } from '../config/schema.js';
import type { CheckTracer } from './check-observer.js';
import type { PhaseClock } from './check-phases.js';
import type { Logger } from './logger.js';
import { LOG } from './log-messages.js';

export interface RunningTracing extends CheckTracer {
  /** Exports what is queued, then stops. */
  close(): Promise<void>;
}

/**
 * OpenTelemetry traces (off unless `tracing.otlpEndpoint` is set): one SERVER span per
 * check, continuing the proxy's W3C `traceparent` (Trace Context, section 3.2), with a
 * child span per phase it reached (route, auth, evaluate), exported in batches over
 * OTLP/HTTP. The spans are made after the decision from the recorded phase times, so
 * tracing adds no work inside the phases; the provider is private to this Gatehouse (no
 * global registration), so embedders' own tracing is left alone.
 */
export async function startTracing(
  config: GatehouseConfig['tracing'],
  logger: Logger,
): Promise<RunningTracing | undefined> {
  if (config.otlpEndpoint === undefined) return undefined;
  const exporter = new OTLPTraceExporter({ url: config.otlpEndpoint, headers: config.headers });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': config.serviceName,
      'service.version': gatehouseVersion(),
    }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 })],
  });
  const tracer = provider.getTracer('gatehouse', gatehouseVersion());
  const propagator = new W3CTraceContextPropagator();
  return Promise.resolve({
    record: (input, decision, phases) => recordCheck(tracer, propagator, input, decision, phases),
    close: async () => {
      try {
        await provider.shutdown();
      } catch (error) {
        logger.warn({ err: error }, LOG.tracesExportFailed);
      }
    },
  });
}

function recordCheck(
  tracer: Tracer,
  propagator: W3CTraceContextPropagator,
  input: CheckInput,
  decision: Decision,
  phases: PhaseClock,
): string {
  // Only traceparent/tracestate are read: the propagator's own, single-valued fields.
  const parent = propagator.extract(ROOT_CONTEXT, input.headers, defaultTextMapGetter);
  const at = (ns: bigint): number => phases.startedAtMs + Number(ns) / 1e6;
  const span = tracer.startSpan(
    'gatehouse.check',
    {
      kind: SpanKind.SERVER,
      startTime: phases.startedAtMs,
      attributes: {
        'gatehouse.transport': input.transport,
        'gatehouse.code': decision.code,
        'gatehouse.allowed': decision.allowed,
        'gatehouse.api': decision.api?.id ?? '',
        'gatehouse.revision': decision.revision ?? '',
        'http.request.method': input.method,
        // The path without its query: a query may carry an access_token (RFC 6750 2.3).
        'url.path': input.path.split('?', 1)[0] ?? '',
        ...(input.requestId === '' ? {} : { 'gatehouse.request_id': input.requestId }),
      },
    },
    parent,
  );
  if (decision.code === 'GH_ERR_INTERNAL') {
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'internal error; denied' });
  }
  const parentContext = trace.setSpan(parent, span);
  for (const phase of phases.spans()) {
    tracer
      .startSpan(`gatehouse.${phase.phase}`, { startTime: at(phase.startNs) }, parentContext)
      .end(at(phase.endNs));
  }
  span.end(at(phases.totalNs()));
  return span.spanContext().traceId;
}
