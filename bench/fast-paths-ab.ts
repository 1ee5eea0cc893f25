/**
 * The check pipeline's shortcuts against the general code they stand in for, interleaved in
 * one process (rounds of A then B, the first two rounds dropped as warm-up): CPU per call
 * and the median of the per-round ratios. Each pair decides the same (the property tests in
 * test/routes/normalize-path.property.test.ts and test/check/allow-headers.property.test.ts);
 * this says what the shortcut saves on the bench's inputs.
 *
 *   taskset -c 0 node --import tsx bench/fast-paths-ab.ts [calls per round] [rounds]
 */
import { allowHeaders, mergedAllowHeaders } from '../src/check/allow-headers.js';
import { mergedQueryAndMetadata, queryAndMetadata } from '../src/check/opa-envoy-mode.js';
import type { PolicyVerdict } from '../src/policy/policy-result.js';
import { normalizeAnyPath, normalizePath } from '../src/routes/normalize-path.js';

const calls = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 12);
let sink = 0;

function cpuNsPerCall(fn: () => number): number {
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) sink += fn();
  const used = process.cpuUsage(before);
  return ((used.user + used.system) * 1000) / calls;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function compare(name: string, general: () => number, shortcut: () => number): void {
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < rounds; round++) {
    a.push(cpuNsPerCall(general));
    b.push(cpuNsPerCall(shortcut));
  }
  const kept = (values: number[]): number[] => values.slice(2);
  const ratios = kept(b).map((value, i) => value / (kept(a)[i] ?? Number.NaN));
  console.log(
    `${name}: general ${median(kept(a)).toFixed(0)} ns, shortcut ${median(kept(b)).toFixed(0)} ns, shortcut / general ${median(ratios).toFixed(2)} (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
  );
}

// A fresh string per call, as a request-target off the wire is.
for (const target of ['/orders/42?expand=items', '/api/v1/customers/12345/invoices?page=2']) {
  compare(
    `normalizePath ${target}`,
    () => {
      const result = normalizeAnyPath(`${target} `.trimEnd());
      return result.ok ? result.segments.length : 0;
    },
    () => {
      const result = normalizePath(`${target} `.trimEnd());
      return result.ok ? result.segments.length : 0;
    },
  );
}

const identityHeaders = ['x-user-sub', 'x-user-roles'];
for (const [name, levelHeaders] of [
  ['one level header (the example orders policy)', [[], [], [['x-user-sub', 'alice'] as const]]],
  ['nothing set', [[], [], []]],
] as const) {
  const parts = {
    claimHeaders: [],
    levelHeaders,
    overrideHeaders: [],
    identityHeaders,
    policyRemovals: [],
  };
  compare(
    `allowHeaders, ${name}`,
    () => mergedAllowHeaders(parts).upstreamHeadersToRemove.length,
    () => allowHeaders(parts).upstreamHeadersToRemove.length,
  );
}

const plainVerdict: PolicyVerdict = {
  allowed: true,
  headers: [],
  responseHeadersToAdd: [],
  requestHeadersToRemove: [],
  httpStatus: undefined,
  body: undefined,
  queryParametersToSet: [],
  queryParametersToRemove: [],
  dynamicMetadata: undefined,
};
const threeLevels = [plainVerdict, plainVerdict, plainVerdict];
compare(
  'queryAndMetadata, three levels asking nothing',
  () => Object.keys(mergedQueryAndMetadata(threeLevels)).length,
  () => Object.keys(queryAndMetadata(threeLevels)).length,
);

if (sink === -1) console.log('unreachable: keeps the calls from being optimized away');
