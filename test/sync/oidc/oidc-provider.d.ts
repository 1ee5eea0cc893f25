/**
 * oidc-provider ships no TypeScript types (and @types/oidc-provider is not a dependency):
 * the minimal surface these tests use, typed from its docs and lib/provider.js (9.13.3).
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  import type { JWK } from 'jose';

  export interface ClientMetadata {
    readonly client_id: string;
    readonly client_secret?: string;
    readonly grant_types?: readonly string[];
    readonly redirect_uris?: readonly string[];
    readonly response_types?: readonly string[];
    readonly scope?: string;
  }

  /** What features.resourceIndicators.getResourceServerInfo returns. */
  export interface ResourceServerInfo {
    readonly scope: string;
    readonly audience?: string;
    readonly accessTokenTTL?: number;
    readonly accessTokenFormat?: 'opaque' | 'jwt';
    readonly jwt?: { readonly sign?: { readonly alg?: string; readonly kid?: string } };
  }

  export interface Configuration {
    /** Private signing keys; the jwks endpoint publishes their public halves. */
    readonly jwks?: { readonly keys: readonly JWK[] };
    readonly clients?: readonly ClientMetadata[];
    readonly ttl?: Readonly<Record<string, number>>;
    readonly features?: {
      readonly devInteractions?: { readonly enabled: boolean };
      readonly clientCredentials?: { readonly enabled: boolean };
      readonly introspection?: { readonly enabled: boolean };
      readonly resourceIndicators?: {
        readonly enabled: boolean;
        readonly defaultResource?: (
          ctx: unknown,
          client: unknown,
          oneOf?: string[],
        ) => string | undefined | Promise<string | undefined>;
        readonly useGrantedResource?: (ctx: unknown, model: unknown) => boolean | Promise<boolean>;
        readonly getResourceServerInfo?: (
          ctx: unknown,
          resourceIndicator: string,
          client: unknown,
        ) => ResourceServerInfo | Promise<ResourceServerInfo>;
      };
    };
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    /** A Node.js request listener (the provider is a Koa application). */
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
  }
  export default Provider;
}
