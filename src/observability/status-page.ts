import type { DecisionRates, RateBucket } from './decision-rates.js';
import type { Metrics } from './metrics.js';
import { sourceRows } from './runtime-metrics.js';

export interface StatusPageOptions {
  /** ControlLoop.status(). */
  readonly status: () => Record<string, unknown>;
  readonly rates: DecisionRates;
  readonly metrics: Metrics;
}

/** Whether a request's Accept header asks for HTML (a browser) rather than the JSON status. */
export function wantsHtml(accept: string | undefined): boolean {
  return accept !== undefined && /\btext\/html\b/i.test(accept);
}

const escapeHtml = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (char) =>
      ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char,
  );

/**
 * `GET /status` for a person: readiness, the snapshot, every source, and decisions per
 * outcome over the last minutes as an inline SVG chart. One self-contained page (no
 * scripts, styles or images from anywhere), so it works behind any port-forward.
 */
export class StatusPage {
  constructor(private readonly options: StatusPageOptions) {}

  async html(): Promise<string> {
    const status = this.options.status();
    const totals = await this.decisionTotals();
    const ready = status.ready === true;
    const snapshot = status.snapshot as
      | { revision: string; sourceRevision: string | null; createdAt: string; apis: number }
      | null
      | undefined;
    const rows = sourceRows(status);
    const buckets = this.options.rates.recent();
    const ageS =
      snapshot == null
        ? undefined
        : Math.round((Date.now() - Date.parse(snapshot.createdAt)) / 1000);
    const now = Date.now();
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gatehouse status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.ok{color:#176f2c;font-weight:bold}.bad{color:#b3261e;font-weight:bold}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
</style></head><body>
<h1>Gatehouse</h1>
<p>Readiness: <span id="readiness" class="${ready ? 'ok' : 'bad'}">${ready ? 'ready' : 'not ready (no snapshot)'}</span></p>
<h2>Snapshot</h2>
${
  snapshot == null
    ? '<p id="snapshot">none active: every check is denied with GH_ERR_NO_SNAPSHOT</p>'
    : `<table id="snapshot">
<tr><th>revision</th><td id="snapshot-revision">${escapeHtml(snapshot.revision)}</td></tr>
<tr><th>source revision</th><td>${escapeHtml(snapshot.sourceRevision ?? '-')}</td></tr>
<tr><th>age</th><td id="snapshot-age">${String(ageS)} s</td></tr>
<tr><th>APIs</th><td id="snapshot-apis">${String(snapshot.apis)}</td></tr>
</table>`
}
<h2>Sources</h2>
<table id="sources"><tr><th>source</th><th>kind</th><th>last success</th><th>consecutive failures</th><th>revision</th></tr>
${rows
  .map(
    (row) =>
      `<tr><td>${escapeHtml(row.source)}</td><td>${escapeHtml(row.kind)}</td><td>${
        row.lastSuccessMs === undefined
          ? '<span class="bad">never</span>'
          : `${String(Math.round((now - row.lastSuccessMs) / 1000))} s ago`
      }</td><td class="${row.consecutiveFailures > 0 ? 'bad' : ''}">${String(row.consecutiveFailures)}</td><td>${escapeHtml(row.revision)}</td></tr>`,
  )
  .join('\n')}
</table>
<h2>Decisions</h2>
<p>Since start: allowed <span id="total-allowed">${String(totals.allowed)}</span>, denied <span id="total-denied">${String(totals.denied)}</span></p>
<p>Last ${String(Math.round((buckets.length * this.options.rates.bucketMs) / 60_000))} minutes, per ${String(this.options.rates.bucketMs / 1000)} s:
allowed <span id="recent-allowed">${String(sum(buckets, 'allowed'))}</span>, denied <span id="recent-denied">${String(sum(buckets, 'denied'))}</span></p>
${chart(buckets)}
<p class="legend"><span style="background:#2e7d32"></span>allowed<span style="background:#c62828"></span>denied</p>
<p>Machine-readable: <code>curl -s localhost:9193/status</code> (JSON) and <code>/metrics</code>.</p>
</body></html>
`;
  }

  /** Decisions since start by outcome, from the same counter /metrics shows. */
  private async decisionTotals(): Promise<{ allowed: number; denied: number }> {
    const metric = await this.options.metrics.decisionsByApi.get();
    let allowed = 0;
    let denied = 0;
    for (const value of metric.values) {
      if (value.labels.code === 'GH_OK') allowed += value.value;
      else denied += value.value;
    }
    return { allowed, denied };
  }
}

function sum(buckets: readonly RateBucket[], key: 'allowed' | 'denied'): number {
  return buckets.reduce((total, bucket) => total + bucket[key], 0);
}

/** Stacked bars, one per bucket, oldest on the left; the y axis scales to the busiest. */
function chart(buckets: readonly RateBucket[]): string {
  const width = 600;
  const height = 160;
  const barWidth = width / buckets.length;
  const peak = Math.max(1, ...buckets.map((bucket) => bucket.allowed + bucket.denied));
  const bars = buckets
    .map((bucket, index) => {
      const x = (index * barWidth).toFixed(1);
      const allowedH = (bucket.allowed / peak) * (height - 20);
      const deniedH = (bucket.denied / peak) * (height - 20);
      const w = Math.max(1, barWidth - 2).toFixed(1);
      const title = `${new Date(bucket.startMs).toISOString().slice(11, 19)}: ${String(bucket.allowed)} allowed, ${String(bucket.denied)} denied`;
      return `<g><title>${title}</title><rect x="${x}" y="${(height - allowedH).toFixed(1)}" width="${w}" height="${allowedH.toFixed(1)}" fill="#2e7d32"/><rect x="${x}" y="${(height - allowedH - deniedH).toFixed(1)}" width="${w}" height="${deniedH.toFixed(1)}" fill="#c62828"/></g>`;
    })
    .join('');
  return `<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="${String(width)}" height="${String(height)}" viewBox="0 0 ${String(width)} ${String(height)}" role="img" aria-label="decisions per outcome">
<rect width="${String(width)}" height="${String(height)}" fill="#fafafa" stroke="#ddd"/>
<text x="4" y="14" font-size="11" fill="#555">peak ${String(peak)} per bucket</text>${bars}</svg>`;
}
