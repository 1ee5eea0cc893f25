import { describe, expect, it } from 'vitest';
import { checkDpopBinding } from '../../../src/auth/dpop/bound-token.js';
import { expectFailure } from './dpop-fixtures.js';

const JKT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
const OTHER_JKT = 'dE9xL3_yFQ-0PXiT3UlMHgRGnFvD0GWxPr5QGRVjl1U';

/** A JWT access token's claims bound to JKT (RFC 9449 section 6.1). */
const boundClaims = { iss: 'https://as.example', sub: 'client', cnf: { jkt: JKT } };
/** A token introspection response bound to JKT (RFC 9449 section 6.2). */
const boundIntrospection = { active: true, token_type: 'DPoP', cnf: { jkt: JKT } };
const unboundClaims = { iss: 'https://as.example', sub: 'client' };

describe('checkDpopBinding (RFC 9449 sections 6, 7.1, 7.2)', () => {
  it('accepts a bound token with the DPoP scheme and a proof by the bound key', () => {
    expect(checkDpopBinding(boundClaims, JKT, 'DPoP')).toEqual({ ok: true, bound: true });
    expect(checkDpopBinding(boundIntrospection, JKT, 'DPoP')).toEqual({ ok: true, bound: true });
  });

  it('leaves an unbound Bearer token to the Bearer rules', () => {
    expect(checkDpopBinding(unboundClaims, undefined, 'Bearer')).toEqual({
      ok: true,
      bound: false,
    });
  });

  it('DPoP-bound token sent as Bearer (downgrade, section 7.2)', () => {
    expectFailure(
      checkDpopBinding(boundClaims, undefined, 'Bearer'),
      'GH_DPOP_BOUND_TOKEN_AS_BEARER',
    );
    // Even with a valid proof alongside: the scheme is what a downgrade changes.
    expectFailure(checkDpopBinding(boundClaims, JKT, 'Bearer'), 'GH_DPOP_BOUND_TOKEN_AS_BEARER');
    expectFailure(
      checkDpopBinding(boundIntrospection, undefined, 'Bearer'),
      'GH_DPOP_BOUND_TOKEN_AS_BEARER',
    );
  });

  it('DPoP scheme with an unbound token', () => {
    expectFailure(checkDpopBinding(unboundClaims, JKT, 'DPoP'), 'GH_DPOP_TOKEN_NOT_BOUND');
    // A token bound another way (mTLS, RFC 8705) is not DPoP-bound either.
    const mtlsBound = { cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' } };
    expectFailure(checkDpopBinding(mtlsBound, JKT, 'DPoP'), 'GH_DPOP_TOKEN_NOT_BOUND');
  });

  it('cnf.jkt mismatch: a stolen token with a proof by the thief’s own key', () => {
    expectFailure(checkDpopBinding(boundClaims, OTHER_JKT, 'DPoP'), 'GH_DPOP_JKT_MISMATCH');
    expectFailure(checkDpopBinding(boundIntrospection, OTHER_JKT, 'DPoP'), 'GH_DPOP_JKT_MISMATCH');
  });

  it('a bound token with the DPoP scheme but no verified proof', () => {
    expectFailure(checkDpopBinding(boundClaims, undefined, 'DPoP'), 'GH_DPOP_PROOF_MISSING');
  });

  it.each([
    ['cnf a string', { cnf: JKT }],
    ['cnf null', { cnf: null }],
    ['cnf an array', { cnf: [{ jkt: JKT }] }],
    ['cnf.jkt a number', { cnf: { jkt: 42 } }],
    ['cnf.jkt empty', { cnf: { jkt: '' } }],
    ['cnf.jkt padded base64', { cnf: { jkt: `${JKT}=` } }],
    ['cnf.jkt hex', { cnf: { jkt: 'ab'.repeat(32) } }],
  ])('%s fails closed, whatever the scheme', (_name, claims) => {
    expectFailure(checkDpopBinding(claims, JKT, 'DPoP'), 'GH_DPOP_CNF_INVALID');
    expectFailure(checkDpopBinding(claims, undefined, 'Bearer'), 'GH_DPOP_CNF_INVALID');
  });
});
