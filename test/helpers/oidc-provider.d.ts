/**
 * oidc-provider ships no TypeScript types (and @types/oidc-provider is not a dependency):
 * the surface test/helpers/authorization-server.ts uses, typed from its docs and
 * lib/helpers/defaults.js (9.13.3). Only that harness imports the module.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  import type { TLSSocket } from 'node:tls';
  import type { JWK } from 'jose';

  /** Client metadata (OIDC Dynamic Client Registration names); many optional fields. */
  export type ClientMetadata = Readonly<Record<string, unknown>> & { readonly client_id: string };

  /** The part of the Koa context the harness reads (oidc-provider is a Koa app). */
  export interface ProviderContext {
    /** Koa's `ctx.socket` is `req.socket`: a TLSSocket behind node:https. */
    readonly socket: TLSSocket;
  }

  /** The part of a client model the policies read. */
  export interface ProviderClient {
    readonly clientId: string;
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
    readonly clientAuthMethods?: readonly string[];
    readonly scopes?: readonly string[];
    readonly ttl?: {
      readonly ClientCredentials?:
        number | ((ctx: unknown, token: unknown, client: ProviderClient) => number);
    };
    readonly features?: {
      readonly devInteractions?: { readonly enabled: boolean };
      readonly clientCredentials?: { readonly enabled: boolean };
      readonly introspection?: {
        readonly enabled: boolean;
        readonly allowedPolicy?: (ctx: unknown, client: ProviderClient, token: unknown) => boolean;
      };
      readonly revocation?: {
        readonly enabled: boolean;
        readonly allowedPolicy?: (
          ctx: unknown,
          client: ProviderClient,
          token: ProviderClient,
        ) => boolean;
      };
      /** RFC 9449; requireNonce defaults to false. */
      readonly dPoP?: { readonly enabled: boolean };
      /** RFC 8705, behind a TLS server the application runs. */
      readonly mTLS?: {
        readonly enabled: boolean;
        readonly tlsClientAuth?: boolean;
        readonly selfSignedTlsClientAuth?: boolean;
        readonly certificateBoundAccessTokens?: boolean;
        readonly getCertificate?: (ctx: ProviderContext) => string | undefined;
        readonly certificateAuthorized?: (ctx: ProviderContext) => boolean;
        readonly certificateSubjectMatches?: (
          ctx: ProviderContext,
          property: string,
          expected: string,
        ) => boolean;
      };
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
  export const errors: {
    /** RFC 8707 section 2: invalid_target. */
    readonly InvalidTarget: new (description?: string) => Error;
  };
  export default Provider;
}
