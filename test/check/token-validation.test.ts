import { VerifiedTokenCaches } from '../../src/auth/verified-token-cache.js';
import { describe, expect, it } from 'vitest';
import type { IntrospectionResult } from '../../src/auth/introspection/introspection-client.js';
import { IntrospectionValidator } from '../../src/check/token-validation/introspection-validator.js';
import { JwtValidator } from '../../src/check/token-validation/jwt-validator.js';
import type { ApiAuth } from '../../src/routes/catalog.js';

// Which validator a token goes to: an opaque token to the introspection of an issuer the API
// accepts, anything shaped like a JWS (even re-spelled) never, and the JWT validator takes
// the rest. The whole path (real introspection servers, real keys) is in test/e2e.

const ISSUER = 'https://as.example.com';
const answered: string[] = [];
const introspector = {
  introspect(token: string): Promise<IntrospectionResult> {
    answered.push(token);
    return Promise.resolve({ kind: 'inactive' });
  },
};
const validator = new IntrospectionValidator(new Map([[ISSUER, introspector]]), 8192);

function auth(issuers: readonly string[] | undefined): ApiAuth {
  return { mode: 'required', issuers, audiences: undefined, scopes: [], scopesMatch: 'all' };
}

describe('token validator choice', () => {
  it('an opaque token on an API that accepts the introspecting issuer is introspected', () => {
    expect(
      validator.accepts(
        { scheme: 'Bearer', token: 'opaque-2YotnFZFEjr1zCsicMWpAA' },
        auth(undefined),
      ),
    ).toBe(true);
    expect(validator.accepts({ scheme: 'DPoP', token: 'opaque' }, auth([ISSUER]))).toBe(true);
  });

  it('an opaque token on an API that accepts only issuers without introspection is not', () => {
    expect(
      validator.accepts({ scheme: 'Bearer', token: 'opaque' }, auth(['https://other.example'])),
    ).toBe(false);
  });

  it('a JWS-shaped token is never sent to introspection, padded or not', () => {
    for (const token of [
      'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln',
      'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0=.c2ln',
    ]) {
      expect(validator.accepts({ scheme: 'Bearer', token }, auth(undefined))).toBe(false);
    }
  });

  it('the JWT validator takes whatever no other validator took', () => {
    const tokenCaches = new VerifiedTokenCaches({ maxEntries: 10, maxTtlS: 60 });
    expect(new JwtValidator({ maxTokenBytes: 8192, clockSkewS: 60, tokenCaches }).accepts()).toBe(
      true,
    );
  });

  it('an opaque token over maxTokenBytes is refused unasked', async () => {
    answered.length = 0;
    const small = new IntrospectionValidator(new Map([[ISSUER, introspector]]), 16);
    const outcome = await small.validate(
      { scheme: 'Bearer', token: 'x'.repeat(17) },
      // The size check comes before any use of the snapshot.
      undefined as never,
      auth(undefined),
    );
    expect(outcome).toMatchObject({ ok: false, code: 'GH_ERR_TOKEN_TOO_LARGE' });
    expect(answered).toEqual([]);
  });
});
