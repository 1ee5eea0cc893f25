import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { IssuerConfig } from '../config/schema.js';
import { GatehouseError } from '../errors/gatehouse-error.js';
import { FastKeySet } from './fast-jws-keys.js';

/**
 * Everything needed to verify one issuer's tokens, built once per snapshot so the check
 * path never fetches or parses keys.
 */
export interface IssuerKeys {
  readonly config: IssuerConfig;
  /** Resolves a public key by kid/alg from the issuer's JWKS; undefined without a JWKS. */
  readonly jwks: JWTVerifyGetKey | undefined;
  /**
   * The same JWKS imported once into node:crypto KeyObjects, for verifyJwt's synchronous
   * fast path (fast-jws-keys.ts); undefined without a JWKS, or where only jose should verify.
   */
  readonly fastKeys?: FastKeySet | undefined;
  /** The shared secret for HS* algorithms; undefined unless configured. */
  readonly hmacSecret: Uint8Array | undefined;
  /** Key ids in the JWKS, for status pages and logs. */
  readonly keyIds: readonly string[];
  /** The JWKS document itself, as loaded (persisted as last-known-good). */
  readonly keySet: JSONWebKeySet | undefined;
}

export class KeySetError extends GatehouseError<'GH_JWKS_INVALID'> {
  constructor(message: string, options?: ErrorOptions) {
    super('GH_JWKS_INVALID', message, options);
    this.name = 'KeySetError';
  }
}

export function buildIssuerKeys(
  config: IssuerConfig,
  jwks: JSONWebKeySet | undefined,
  hmacSecret: string | undefined,
): IssuerKeys {
  let resolver: JWTVerifyGetKey | undefined;
  let fastKeys: FastKeySet | undefined;
  if (jwks !== undefined) {
    try {
      resolver = createLocalJWKSet(jwks);
    } catch (error) {
      throw new KeySetError(`JWKS for ${config.issuer} is invalid: ${String(error)}`, {
        cause: error,
      });
    }
    // Only a document jose accepted; imported once per key set, never per check.
    fastKeys = FastKeySet.from(jwks);
  }
  return {
    config,
    jwks: resolver,
    fastKeys,
    hmacSecret: hmacSecret === undefined ? undefined : new TextEncoder().encode(hmacSecret),
    keyIds: (jwks?.keys ?? []).flatMap((key) => (typeof key.kid === 'string' ? [key.kid] : [])),
    keySet: jwks,
  };
}

/** Checks the parsed JSON is a JWKS with public keys only. */
export function asJsonWebKeySet(value: unknown, source: string): JSONWebKeySet {
  if (
    typeof value !== 'object' ||
    value === null ||
    !Array.isArray((value as { keys?: unknown }).keys)
  ) {
    throw new KeySetError(`${source} is not a JWKS document (an object with a "keys" array)`);
  }
  const keys = (value as { keys: unknown[] }).keys;
  for (const key of keys) {
    if (
      typeof key !== 'object' ||
      key === null ||
      typeof (key as { kty?: unknown }).kty !== 'string'
    ) {
      throw new KeySetError(`${source} has a key without "kty"`);
    }
    // A JWKS with private members is a leaked secret, not a verification key set.
    if ('d' in key || 'k' in key) {
      throw new KeySetError(
        `${source} contains private or symmetric key material; publish public keys only`,
      );
    }
  }
  return value as JSONWebKeySet;
}
