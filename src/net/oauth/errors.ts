import { OAUTH_CLIENT_ERRORS } from '../../errors/error-codes.js';
import { GatehouseError } from '../../errors/gatehouse-error.js';

/**
 * The closed set of errors the OAuth client raises; what each means is in the one
 * registry (src/errors/error-codes.ts).
 */
export { OAUTH_CLIENT_ERRORS };

export type OAuthClientErrorCode = keyof typeof OAUTH_CLIENT_ERRORS;

export interface OAuthClientErrorDetails {
  /** The server's `error` code (RFC 6749 section 5.2), e.g. `invalid_client`. */
  readonly oauthError?: string | undefined;
  /** The server's `error_description` (RFC 6749 section 5.2), secrets redacted. */
  readonly errorDescription?: string | undefined;
  /** The HTTP status of the answer, when there was one. */
  readonly status?: number | undefined;
}

/**
 * An OAuth client failure. Messages never contain a client secret, a private key or an
 * access token: they name the option, the endpoint and what the server said.
 */
export class OAuthClientError extends GatehouseError<OAuthClientErrorCode> {
  readonly oauthError: string | undefined;
  readonly errorDescription: string | undefined;
  readonly status: number | undefined;

  constructor(
    code: OAuthClientErrorCode,
    message: string,
    details: OAuthClientErrorDetails = {},
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.name = 'OAuthClientError';
    this.oauthError = details.oauthError;
    this.errorDescription = details.errorDescription;
    this.status = details.status;
  }
}

/** A config error naming the option, as fastify does: `secret: is required for ...`. */
export function configError(option: string, problem: string, cause?: unknown): OAuthClientError {
  return new OAuthClientError(
    'GH_OAUTH_CONFIG_INVALID',
    `${option}: ${problem}`,
    {},
    cause === undefined ? undefined : { cause },
  );
}

const REDACTED = '[redacted]';

/**
 * Replaces every occurrence of each secret in `text`. Applied to anything a server sent
 * back before it goes into an error, since a broken server may echo the request body
 * (which carries `client_secret` for client_secret_post).
 */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret !== '') result = result.split(secret).join(REDACTED);
  }
  return result;
}

/**
 * The message of a network-level failure, without the URL prefix FetchError puts on it
 * (the caller's message already names the URL).
 */
export function describeFailure(error: unknown, url: string): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith(`${url}: `) ? message.slice(url.length + 2) : message;
}
