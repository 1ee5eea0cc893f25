/**
 * The W3C Trace Context `traceparent` header (https://www.w3.org/TR/trace-context/ section
 * 3.2): `version-traceid-parentid-flags`, lower-case hex; an all-zero trace or parent id is
 * invalid. Version 00 must have exactly four fields; a later version may append more.
 */
export interface TraceParent {
  readonly traceId: string;
  readonly parentSpanId: string;
  readonly flags: number;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

export function parseTraceParent(value: string | undefined): TraceParent | undefined {
  if (value === undefined) return undefined;
  const match = TRACEPARENT.exec(value.trim());
  if (match === null) return undefined;
  const [, version = '', traceId = '', parentSpanId = '', flags = '', rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentSpanId)) return undefined;
  return { traceId, parentSpanId, flags: Number.parseInt(flags, 16) };
}

/** The trace id for log lines: the proxy's traceparent's, else none. */
export function traceIdOf(headers: Readonly<Record<string, string>>): string | undefined {
  return parseTraceParent(headers.traceparent)?.traceId;
}
