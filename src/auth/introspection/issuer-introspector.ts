import { discoverIssuer } from '../../net/oidc-discovery.js';
import { CallBudget } from './call-budget.js';
import type {
  ClientAuthenticator,
  IntrospectionResult,
  IntrospectionStats,
} from './introspection-client.js';
import { IntrospectionClient } from './introspection-client.js';
import type { IntrospectionCacheOptions, IntrospectionOutcome } from './options.js';

export interface IssuerIntrospectorOptions {
  readonly issuer: string;
  /** The endpoint; when absent it is read once from the issuer's discovery document. */
  readonly endpoint: string | undefined;
  readonly clientAuth: ClientAuthenticator;
  readonly timeoutMs: number;
  readonly cache: IntrospectionCacheOptions;
  /**
   * The most requests per second this issuer is sent (introspection and discovery), on
   * average, and the most at once. Unset: unbounded.
   */
  readonly rateLimit?: { readonly maxCallsPerS: number; readonly burst: number } | undefined;
  /** Told what came of every introspection the cache could not answer (metrics, logs). */
  readonly onOutcome?: ((outcome: IntrospectionOutcome) => void) | undefined;
}

/**
 * One issuer's introspection, with its endpoint found by discovery on first use when the
 * config does not name it (RFC 8414 `introspection_endpoint`). Discovery failing is
 * "unavailable" (an explicit deny), and is tried again on the next opaque token.
 */
export class IssuerIntrospector {
  private client: IntrospectionClient | undefined;
  private discovering: Promise<IntrospectionClient> | undefined;
  private readonly budget: CallBudget | undefined;

  constructor(private readonly options: IssuerIntrospectorOptions) {
    const limit = options.rateLimit;
    this.budget =
      limit === undefined
        ? undefined
        : new CallBudget({ ratePerS: limit.maxCallsPerS, burst: limit.burst });
    if (options.endpoint !== undefined) this.client = this.create(options.endpoint);
  }

  get issuer(): string {
    return this.options.issuer;
  }

  /** The client's counters (cache hits for /metrics); undefined until the endpoint is known. */
  stats(): IntrospectionStats | undefined {
    return this.client?.stats();
  }

  async introspect(token: string): Promise<IntrospectionResult> {
    let client = this.client;
    if (client === undefined) {
      // A discovery request is a call to the same server: a failing discovery, tried again
      // on every opaque token, must not be an amplifier either.
      if (this.discovering === undefined && this.budget !== undefined && !this.budget.tryTake()) {
        this.options.onOutcome?.('rate_limited');
        return {
          kind: 'unavailable',
          code: 'GH_INTROSPECTION_RATE_LIMITED',
          reason: `discovery for ${this.options.issuer} not sent: over ${this.budget.ratePerS} requests per second`,
        };
      }
      try {
        this.discovering ??= this.discover().finally(() => {
          this.discovering = undefined;
        });
        client = await this.discovering;
      } catch (error) {
        return {
          kind: 'unavailable',
          code: 'GH_INTROSPECTION_NETWORK',
          reason: `introspection endpoint of ${this.options.issuer} not found: ${error instanceof Error ? error.message : String(error)}`,
        };
      }
    }
    return client.introspect(token);
  }

  close(): void {
    this.client?.close();
  }

  private async discover(): Promise<IntrospectionClient> {
    const metadata = await discoverIssuer(this.options.issuer, {
      timeoutMs: this.options.timeoutMs,
      maxBytes: 256 * 1024,
    });
    if (metadata.introspectionEndpoint === undefined) {
      throw new Error('the discovery document names no introspection_endpoint');
    }
    this.client = this.create(metadata.introspectionEndpoint);
    return this.client;
  }

  private create(endpoint: string): IntrospectionClient {
    return new IntrospectionClient({
      endpoint,
      clientAuth: this.options.clientAuth,
      timeoutMs: this.options.timeoutMs,
      cache: this.options.cache,
      budget: this.budget,
      onOutcome: this.options.onOutcome,
    });
  }
}
