import { request } from 'undici';

/** One issuer's entry in GET /status, the fields the key tests read. */
export interface IssuerStatus {
  readonly keyIds: string[];
  readonly lastError?: { readonly code: string; readonly message: string };
  readonly consecutiveFailures: number;
  readonly nextAttemptAt?: number;
  readonly fetches: number;
  readonly keysRefreshedAt: string | null;
  readonly maxKeyStalenessS: number | null;
  readonly keysStale: boolean;
}

/** GET /status, as an operator reads it, for one issuer. */
export async function issuerStatus(httpBase: string, issuer: string): Promise<IssuerStatus> {
  const response = await request(`${httpBase}/status`);
  const status = (await response.body.json()) as { issuers: Record<string, IssuerStatus> };
  const entry = status.issuers[issuer];
  if (entry === undefined) throw new Error(`no status for ${issuer}`);
  return entry;
}

/** One series' value from GET /metrics (Prometheus text format); 0 when absent. */
export async function metricValue(httpBase: string, series: string): Promise<number> {
  const text = await (await request(`${httpBase}/metrics`)).body.text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
