import { request, type Dispatcher } from 'undici';
import { GatehouseError } from '../errors/gatehouse-error.js';

/**
 * The control loop's one way to make an HTTP request: undici, with a timeout on the
 * headers and on the body, and a cap on the body size so a hostile or broken server cannot
 * make Gatehouse buffer without bound. Never used on the check path.
 */
export interface FetchOptions {
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Headers and body each, in milliseconds. */
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /** An undici dispatcher, e.g. an Agent with a client certificate for mutual TLS. */
  readonly dispatcher?: Dispatcher;
}

export interface FetchResult {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export class FetchError extends GatehouseError<'GH_FETCH_FAILED'> {
  constructor(message: string, options?: ErrorOptions) {
    super('GH_FETCH_FAILED', message, options);
    this.name = 'FetchError';
  }
}

/** Fetches `url`; rejects with FetchError on network errors, timeouts and oversized bodies. */
export async function fetchBytes(url: string, options: FetchOptions): Promise<FetchResult> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: options.method ?? 'GET',
      headers: { ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body }),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
    });
  } catch (error) {
    throw new FetchError(`${url}: ${describe(error)}`, { cause: error });
  }
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    // destroy() makes the body emit an abort error; with no listener it would be uncaught.
    response.body.on('error', () => undefined);
    response.body.destroy();
    throw new FetchError(
      `${url}: body of ${declared} bytes is over the ${options.maxBytes}-byte limit`,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > options.maxBytes) {
        response.body.on('error', () => undefined);
        response.body.destroy();
        throw new FetchError(`${url}: body is over the ${options.maxBytes}-byte limit`);
      }
      chunks.push(buffer);
    }
  } catch (error) {
    if (error instanceof FetchError) throw error;
    throw new FetchError(`${url}: reading the body failed: ${describe(error)}`, { cause: error });
  }
  return { status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
