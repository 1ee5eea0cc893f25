import { inspect } from 'node:util';
import { expect } from 'vitest';
import { centralServerSchema } from '../../../src/config/schema.js';
import {
  ClientCredentialsTokenSource,
  type ClientCredentialsOptions,
} from '../../../src/net/oauth/client-credentials.js';
import { OAuthClientError } from '../../../src/net/oauth/errors.js';
import type { AuthorizationServerOptions } from '../../helpers/authorization-server.js';
import { freeLoopbackPort } from '../../helpers/listen.js';

/** Options for a test's token source: the test supplies the endpoint when left out. */
export type SourceOptions = Partial<ClientCredentialsOptions> &
  Pick<ClientCredentialsOptions, 'clientId' | 'method'>;

/**
 * The schema's defaults for the options a config always gives a token source (a token
 * source in code is handed them, as create-sources hands it the parsed config's).
 */
const SCHEMA_DEFAULTS = centralServerSchema.parse({
  tokenEndpoint: 'https://as.example/token',
  clientId: 'defaults',
  method: 'tls_client_auth',
  certFile: 'client.crt',
  keyFile: 'client.key',
});

/** `options` with the schema's requestTimeoutMs and refreshSkewS where it sets none. */
export function withConfigDefaults(
  options: Omit<ClientCredentialsOptions, 'timeoutMs' | 'refreshSkewS'> &
    Partial<Pick<ClientCredentialsOptions, 'timeoutMs' | 'refreshSkewS'>>,
): ClientCredentialsOptions {
  return {
    ...options,
    timeoutMs: options.timeoutMs ?? SCHEMA_DEFAULTS.requestTimeoutMs,
    refreshSkewS: options.refreshSkewS ?? SCHEMA_DEFAULTS.refreshSkewS,
  };
}

/** What a suite's token sources use where a test names none. */
export interface SourceDefaults {
  readonly tokenEndpoint: string;
  readonly ca?: string;
}

/**
 * The token sources a test creates, each closed by closeAll() (the suite's afterEach).
 * `defaults` is read per source, after the suite's beforeAll started the provider.
 */
export function tokenSources(defaults: () => SourceDefaults): {
  /** A source with the suite's endpoint (and CA) where `options` names none. */
  readonly source: (options: SourceOptions) => ClientCredentialsTokenSource;
  /** A source built from `options` as given, closed after the test like the others. */
  readonly exact: (
    options: Parameters<typeof withConfigDefaults>[0],
  ) => ClientCredentialsTokenSource;
  readonly closeAll: () => Promise<void>;
} {
  const open: ClientCredentialsTokenSource[] = [];
  const exact = (
    options: Parameters<typeof withConfigDefaults>[0],
  ): ClientCredentialsTokenSource => {
    const created = new ClientCredentialsTokenSource(withConfigDefaults(options));
    open.push(created);
    return created;
  };
  return {
    source: (options) => {
      const { tokenEndpoint, ca } = defaults();
      const withCa = options.ca ?? ca;
      return exact({
        ...options,
        tokenEndpoint: options.tokenEndpoint ?? tokenEndpoint,
        ...(withCa === undefined ? {} : { ca: withCa }),
      });
    },
    exact,
    closeAll: async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    },
  };
}

/** Awaits `promise`, which must reject with an OAuthClientError, and returns that error. */
export async function rejection(promise: Promise<unknown>): Promise<OAuthClientError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthClientError);
    return error as OAuthClientError;
  }
  throw new Error('expected a rejection, got a value');
}

/** Runs `fn`, which must throw an OAuthClientError, and returns that error. */
export function thrown(fn: () => unknown): OAuthClientError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthClientError);
    return error as OAuthClientError;
  }
  throw new Error('expected a throw');
}

/**
 * Everything a log line or a crash report could show of `value`: its inspection (with
 * the cause chain and own properties) and its JSON form.
 */
export function everythingShown(value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    // circular: inspect shows it all anyway
  }
  return `${inspect(value, { depth: 10, showHidden: true })}\n${json ?? ''}\n${String(value)}`;
}

/** A 127.0.0.1 port with nothing listening on it (free a moment ago). */
export const closedPort = freeLoopbackPort;

/** The resource indicator (RFC 8707) for which the provider issues JWT access tokens. */
export const BUNDLES_RESOURCE = 'https://bundles.gatehouse.test/';
export const BUNDLES_SCOPE = 'bundles:read';

/**
 * The authorization server the sync client suites talk to: tokens for BUNDLES_RESOURCE are
 * JWTs (RFC 9068) with that audience; without a resource they are opaque.
 */
export const BUNDLES_SERVER = {
  resources: { [BUNDLES_RESOURCE]: { scope: BUNDLES_SCOPE, audience: BUNDLES_RESOURCE } },
  scopes: ['keys:read'],
} as const satisfies AuthorizationServerOptions;
