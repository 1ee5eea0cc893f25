import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { CONFIG_DEFAULTS } from '../../config/schema.js';

/**
 * Stateless DPoP server nonces (RFC 9449 sections 8 and 9).
 *
 * A nonce is an HMAC-SHA256, under a secret, of the number of the time window it was issued
 * in (windows of `lifetimeS` seconds since the epoch). Nothing is stored: any process or
 * replica holding the same secret recognizes it, by computing the nonces of the current
 * and the previous window and comparing. So a nonce is accepted for between `lifetimeS` and
 * twice that after it was issued, and then never again; one made with another secret
 * (forged, or from a Gatehouse configured differently) is never accepted.
 *
 * RFC 9449 section 8: the nonce is opaque to the client, and its syntax is NQCHAR; the
 * base64url alphabet is inside that.
 */

/** How many bytes of the HMAC the nonce carries: 144 bits, 24 base64url characters. */
const NONCE_BYTES = 18;
/** Keeps these MACs apart from anything else the same secret may be used for. */
const CONTEXT = 'gatehouse/dpop-nonce/v1\0';
/** Default for tokens.dpop.nonce.lifetimeS, as the schema states it. */
const DEFAULT_NONCE_LIFETIME_S = CONFIG_DEFAULTS.tokens.dpop.nonce.lifetimeS;
/** Shortest secret accepted, in bytes: the HMAC's own output size. */
export const MIN_NONCE_SECRET_BYTES = 32;

export interface DpopNonceOptions {
  /**
   * The HMAC key. Every Gatehouse that should accept each other's nonces needs the same
   * one. Default: 32 random bytes, so that nonces are good in this process only.
   */
  readonly secret?: Uint8Array | undefined;
  /** Seconds per window: a nonce is accepted for between this and twice this. */
  readonly lifetimeS: number;
  /** The clock, epoch milliseconds; default Date.now. For tests. */
  readonly now?: (() => number) | undefined;
}

export class DpopNonces {
  readonly lifetimeS: number;
  /** Whether the secret was configured (false: random, this process only). */
  readonly shared: boolean;
  readonly #secret: Uint8Array;
  readonly #now: () => number;
  #cached: { readonly window: number; readonly nonce: Buffer } | undefined;

  constructor(options: DpopNonceOptions) {
    if (!Number.isSafeInteger(options.lifetimeS) || options.lifetimeS <= 0) {
      throw new TypeError(`lifetimeS must be a positive integer, got ${options.lifetimeS}`);
    }
    if (options.secret !== undefined && options.secret.byteLength < MIN_NONCE_SECRET_BYTES) {
      throw new TypeError(`the nonce secret must hold at least ${MIN_NONCE_SECRET_BYTES} bytes`);
    }
    this.lifetimeS = options.lifetimeS;
    this.shared = options.secret !== undefined;
    this.#secret = options.secret ?? randomBytes(MIN_NONCE_SECRET_BYTES);
    this.#now = options.now ?? (() => Date.now());
  }

  /** The nonce of the current window: what a client should send next. */
  current(): string {
    return this.#nonceOf(this.#window()).toString('base64url');
  }

  /** Whether `nonce` was issued, with this secret, in the current or the previous window. */
  accepts(nonce: string): boolean {
    // A wrong length cannot match; checking it first also keeps timingSafeEqual's inputs equal.
    if (nonce.length !== Math.ceil((NONCE_BYTES * 4) / 3)) return false;
    const presented = Buffer.from(nonce, 'base64url');
    // Buffer.from drops characters outside the alphabet: re-encode to see it was canonical.
    if (presented.length !== NONCE_BYTES || presented.toString('base64url') !== nonce) {
      return false;
    }
    const window = this.#window();
    // Both compared, always: the time taken says nothing about which one matched.
    const current = timingSafeEqual(presented, this.#nonceOf(window));
    const previous = timingSafeEqual(presented, this.#nonceOf(window - 1));
    return current || previous;
  }

  #window(): number {
    return Math.floor(this.#now() / (this.lifetimeS * 1000));
  }

  #nonceOf(window: number): Buffer {
    const cached = this.#cached;
    if (cached?.window === window) return cached.nonce;
    const counter = Buffer.alloc(8);
    counter.writeBigInt64BE(BigInt(window));
    const nonce = createHmac('sha256', this.#secret)
      .update(CONTEXT)
      .update(counter)
      .digest()
      .subarray(0, NONCE_BYTES);
    // Only the current window's is kept: it is the one asked for on every response.
    if (cached === undefined || window > cached.window) this.#cached = { window, nonce };
    return nonce;
  }
}

let perProcess: DpopNonces | undefined;

/** Nonces with a random secret, for pipelines built without configured ones (tests, embedders). */
export function perProcessDpopNonces(lifetimeS = DEFAULT_NONCE_LIFETIME_S): DpopNonces {
  perProcess ??= new DpopNonces({ lifetimeS });
  return perProcess;
}
