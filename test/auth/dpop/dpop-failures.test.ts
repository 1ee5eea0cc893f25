import { describe, expect, it } from 'vitest';
import {
  DPOP_FAILURES,
  INVALID_DPOP_PROOF,
  INVALID_TOKEN,
} from '../../../src/auth/dpop/dpop-failures.js';

describe('DPOP_FAILURES catalogue', () => {
  it('names the RFC 9449 error code for the challenge (section 7.1)', () => {
    expect(INVALID_DPOP_PROOF).toBe('invalid_dpop_proof');
    expect(INVALID_TOKEN).toBe('invalid_token');
  });

  it('answers proof problems with invalid_dpop_proof and token problems with invalid_token', () => {
    const tokenProblems = Object.entries(DPOP_FAILURES)
      .filter(([, spec]) => spec.error === INVALID_TOKEN)
      .map(([code]) => code)
      .sort();
    expect(tokenProblems).toEqual([
      'GH_DPOP_BOUND_TOKEN_AS_BEARER',
      'GH_DPOP_CNF_INVALID',
      'GH_DPOP_JKT_MISMATCH',
      'GH_DPOP_TOKEN_NOT_BOUND',
    ]);
  });

  it('gives every code the RFC 9449 rule it enforces', () => {
    for (const [code, spec] of Object.entries(DPOP_FAILURES)) {
      expect(code).toMatch(/^GH_DPOP_[A-Z_]+$/);
      expect(spec.rule).toMatch(/^\d+(\.\d+)*[ ,:]/);
    }
  });
});
