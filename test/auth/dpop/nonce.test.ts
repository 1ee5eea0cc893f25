import { describe, expect, it } from 'vitest';
import { DpopNonces } from '../../../src/auth/dpop/nonce.js';

// Stateless DPoP server nonces (RFC 9449 section 8): an HMAC over the time window, on a
// clock the test moves.

const SECRET = Buffer.from('a shared nonce secret of 32+ bytes, for tests');
const LIFETIME_S = 60;

function nonces(secret: Uint8Array | undefined = SECRET) {
  const clock = { ms: 1_750_000_000_000 };
  return { clock, nonces: new DpopNonces({ secret, lifetimeS: LIFETIME_S, now: () => clock.ms }) };
}

describe('DpopNonces', () => {
  it('a nonce is NQCHAR (RFC 9449 section 8.1) and accepted right away', () => {
    const { nonces: n } = nonces();
    const nonce = n.current();
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(n.accepts(nonce)).toBe(true);
  });

  it('the nonce of the previous window is still accepted; two windows back it has expired', () => {
    const { clock, nonces: n } = nonces();
    const nonce = n.current();
    clock.ms += LIFETIME_S * 1000;
    expect(n.current()).not.toBe(nonce);
    expect(n.accepts(nonce)).toBe(true);
    clock.ms += LIFETIME_S * 1000;
    expect(n.accepts(nonce)).toBe(false);
  });

  it('a nonce from another secret (forged) is refused', () => {
    const ours = nonces();
    const theirs = nonces(Buffer.from('another secret, also at least 32 bytes long'));
    expect(ours.nonces.accepts(theirs.nonces.current())).toBe(false);
  });

  it('another instance with the same secret accepts the nonce (no shared state)', () => {
    expect(nonces().nonces.accepts(nonces().nonces.current())).toBe(true);
  });

  it('without a secret, nonces are good in this instance only', () => {
    const a = new DpopNonces({ lifetimeS: LIFETIME_S });
    const b = new DpopNonces({ lifetimeS: LIFETIME_S });
    expect(a.shared).toBe(false);
    expect(a.accepts(a.current())).toBe(true);
    expect(b.accepts(a.current())).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['too short', 'abc'],
    ['a changed character', 'FLIP'],
    ['not base64url', '!'.repeat(24)],
    ['padding', '='],
  ])('refuses a nonce that is %s', (_, kind) => {
    const { nonces: n } = nonces();
    const good = n.current();
    const bad =
      kind === 'FLIP'
        ? `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`
        : kind === '='
          ? `${good.slice(0, -2)}==`
          : kind;
    expect(n.accepts(bad)).toBe(false);
  });

  it('refuses a secret under 32 bytes and a lifetime that is not a positive integer', () => {
    expect(() => new DpopNonces({ secret: Buffer.alloc(31), lifetimeS: 60 })).toThrow(TypeError);
    expect(() => new DpopNonces({ lifetimeS: 0 })).toThrow(TypeError);
  });
});
