import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { request, type Dispatcher } from 'undici';
import type { DecisionLogSink, SendOutcome } from './sink.js';

const gzipAsync = promisify(gzip);

/** The central server's credentials, as the OAuth client gives them (src/sync/oauth). */
export interface ServiceCredentials {
  /** `{ authorization: 'Bearer …' }`; rejects when no token can be had. */
  readonly headers: () => Promise<Record<string, string>>;
  /** Forget the cached token (the server answered 401). */
  readonly invalidate: () => void;
  /** mutual TLS, when the client has a certificate. */
  readonly dispatcher: Dispatcher | undefined;
}

export interface ServiceSinkOptions {
  /** The full URL records are POSTed to (OPA: the service URL + `/logs`). */
  readonly url: string;
  readonly timeoutMs: number;
  readonly credentials?: ServiceCredentials | undefined;
}

/**
 * OPA's decision-log service API (OPA docs, "Decision Logs"): each batch is a JSON array
 * of events, gzip-compressed, POSTed with `Content-Type: application/json` and
 * `Content-Encoding: gzip`; any 2xx means delivered.
 */
export class ServiceSink implements DecisionLogSink {
  readonly name = 'service';

  constructor(private readonly options: ServiceSinkOptions) {}

  async send(batch: readonly string[], signal: AbortSignal): Promise<SendOutcome> {
    const body = await gzipAsync(Buffer.from(`[${batch.join(',')}]`, 'utf8'));
    let auth: Record<string, string> = {};
    const credentials = this.options.credentials;
    if (credentials !== undefined) {
      try {
        auth = await credentials.headers();
      } catch (error) {
        return { kind: 'retry', reason: `token: ${describe(error)}` };
      }
    }
    let status: number;
    try {
      const response = await request(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          ...auth,
        },
        body,
        signal,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        ...(credentials?.dispatcher === undefined ? {} : { dispatcher: credentials.dispatcher }),
      });
      status = response.statusCode;
      // The answer's body is not needed; reading it frees the connection for reuse.
      await response.body.dump();
    } catch (error) {
      return { kind: 'retry', reason: describe(error) };
    }
    if (status >= 200 && status < 300) return { kind: 'sent' };
    if (status === 401) {
      // RFC 6750 section 3.1: invalid_token; a new token may be accepted.
      credentials?.invalidate();
      return { kind: 'retry', reason: 'http 401' };
    }
    if (status >= 500 || status === 408 || status === 429) {
      return { kind: 'retry', reason: `http ${String(status)}` };
    }
    return { kind: 'rejected', reason: `http ${String(status)}` };
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? code : error.message;
  }
  return String(error);
}
