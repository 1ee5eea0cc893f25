import type { IssuerKeys } from '../auth/issuer-keys.js';
import type { WasmPolicy } from '../policy/wasm-policy.js';
import type { ApiDefinition, Catalog } from '../routes/catalog.js';
import type { RouteTable } from '../routes/route-table.js';

/**
 * Everything a check reads, as one immutable value. A check takes the current snapshot
 * once, at its start, and uses only it: a swap in the middle of traffic never mixes a new
 * policy with old routes or keys.
 */
export interface Snapshot {
  /** Identifies the inputs: policy hash, data, catalog and key ids. */
  readonly revision: string;
  /** The policy source's own revision (a bundle manifest's), if it has one. */
  readonly sourceRevision: string | undefined;
  readonly createdAt: Date;
  /** The catalog as its source delivered it: an unchanged catalog is not parsed again. */
  readonly catalogText: string;
  readonly catalog: Catalog;
  readonly routes: RouteTable<ApiDefinition>;
  readonly issuers: ReadonlyMap<string, IssuerKeys>;
  /**
   * Hash of every issuer's key material: equal hashes, equal verification results (the
   * authenticator's verified-token cache is kept per keysHash).
   */
  readonly keysHash: string;
  readonly policy: WasmPolicy;
  /** Entrypoint per Rego package named in the catalog (`orders.api` -> `orders/api/allow`). */
  readonly entrypoints: ReadonlyMap<string, string>;
  /**
   * Every header any API fills from claims plus `routing.identityHeaders`, lower-case:
   * removed from every allowed request that does not set it (see check/allow-headers.ts).
   */
  readonly identityHeaders: readonly string[];
}
