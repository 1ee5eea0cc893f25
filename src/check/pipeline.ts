import { DpopReplayCache } from '../auth/dpop/replay-cache.js';
import type { IssuerKeys } from '../auth/issuer-keys.js';
import type { KeysRefreshedAt } from '../auth/key-freshness.js';
import type { Logger } from '../observability/logger.js';
import { LOG } from '../observability/log-messages.js';
import type { Metrics } from '../observability/metrics.js';
import type { ApiAuth, ApiDefinition } from '../routes/catalog.js';
import { normalizePath, parseQuery } from '../routes/normalize-path.js';
import type { SnapshotStore } from '../snapshot/snapshot-store.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import { Authenticator, type DpopSettings, type TokenIntrospector } from './authenticate.js';
import type { Authorizer } from './authorizer.js';
import type { CheckInput } from './check-input.js';
import { claimsToHeaders } from './claims-to-headers.js';
import { deny, type Decision, type HeaderList, type MatchedApiRef } from './decision.js';
import { evaluateLevels } from './evaluate-policies.js';
import { buildPolicyInput } from './policy-input.js';

export interface PipelineOptions {
  readonly realm: string;
  readonly allowUnknownApis: boolean;
  readonly maxTokenBytes: number;
  readonly clockSkewS: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * Asked when a token names a `kid` the snapshot does not know: may refresh the issuer's
   * keys (rate-limited by the key source) and return them when the kid is now known.
   */
  readonly keysForUnknownKid?: (issuer: string, kid: string) => Promise<IssuerKeys | undefined>;
  /**
   * When each issuer's keys were last loaded successfully (changed or not), for the
   * issuers' maxKeyStalenessS; without it, an issuer with a limit always counts as stale.
   */
  readonly keysRefreshedAt?: KeysRefreshedAt;
  /** RFC 7662 introspection by issuer, for opaque tokens. */
  readonly introspectors?: ReadonlyMap<string, TokenIntrospector>;
  /** DPoP proof checks (RFC 9449); default: ES256, RS256, PS256, EdDSA within 60 s. */
  readonly dpop?: DpopSettings;
}

export const DEFAULT_DPOP_ALGORITHMS = ['ES256', 'RS256', 'PS256', 'EdDSA'] as const;

/** Auth for requests that match no API when allowUnknownApis is on: a token is optional. */
const UNKNOWN_API_AUTH: ApiAuth = {
  mode: 'optional',
  issuers: undefined,
  audiences: undefined,
  scopes: [],
  scopesMatch: 'all',
};

/**
 * The check pipeline: route -> authenticate -> evaluate -> respond, over one snapshot.
 * Transport-free: the gRPC and HTTP adapters build a CheckInput and map the Decision.
 */
export class CheckPipeline implements Authorizer {
  private readonly authenticator: Authenticator;

  constructor(
    private readonly store: SnapshotStore,
    private readonly options: PipelineOptions,
  ) {
    this.authenticator = new Authenticator({
      maxTokenBytes: options.maxTokenBytes,
      clockSkewS: options.clockSkewS,
      dpop: options.dpop ?? {
        algorithms: DEFAULT_DPOP_ALGORITHMS,
        iatWindowS: 60,
        replay: new DpopReplayCache({ iatWindowS: 60 }),
      },
      keysForUnknownKid: options.keysForUnknownKid,
      keysRefreshedAt: options.keysRefreshedAt,
      introspectors: options.introspectors,
    });
  }

  isReady(): boolean {
    return this.store.current() !== undefined;
  }

  async check(input: CheckInput): Promise<Decision> {
    const started = process.hrtime.bigint();
    let decision: Decision;
    try {
      decision = await this.decide(input);
    } catch (error) {
      // Fail closed: a bug anywhere in the pipeline is an explicit deny.
      this.options.logger.error({ err: error, transport: input.transport }, LOG.checkFailed);
      decision = deny('GH_ERR_INTERNAL', `internal error: ${String(error)}`, {
        realm: this.options.realm,
        revision: this.store.current()?.revision,
      });
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.options.metrics.checkDuration.observe({ transport: input.transport }, seconds);
    this.options.metrics.decisions.inc({ transport: input.transport, code: decision.code });
    this.log(input, decision);
    return decision;
  }

  private async decide(input: CheckInput): Promise<Decision> {
    // Take the snapshot once: everything below reads this one, whatever swaps meanwhile.
    const snapshot = this.store.current();
    const realm = this.options.realm;
    if (snapshot === undefined) {
      return deny('GH_ERR_NO_SNAPSHOT', 'no snapshot has been activated yet', { realm });
    }
    const revision = snapshot.revision;

    // 1. Route: the API decides which tokens are accepted and which policies apply.
    const normalized = normalizePath(input.path);
    if (!normalized.ok) {
      return deny('GH_ERR_PATH_INVALID', normalized.reason, { realm, revision });
    }
    const match = snapshot.routes.match(input.host, input.method, normalized.segments);
    const api: ApiDefinition | undefined = match?.value;
    if (api === undefined && !this.options.allowUnknownApis) {
      return deny(
        'GH_ERR_API_UNKNOWN',
        `no API for ${input.method} ${normalized.path} on host "${input.host}"`,
        { realm, revision },
      );
    }
    const apiRef: MatchedApiRef | undefined =
      api === undefined ? undefined : { id: api.id, service: api.service };

    // 2. Authenticate, as the API requires.
    const auth = api?.auth ?? UNKNOWN_API_AUTH;
    const authenticated = await this.authenticator.authenticate(input, snapshot, auth);
    if (!authenticated.ok) {
      return deny(authenticated.code, authenticated.reason, {
        realm,
        revision,
        api: apiRef,
        ...(authenticated.scopes === undefined ? {} : { scopes: authenticated.scopes }),
      });
    }
    const claims = authenticated.claims;

    // 3. Evaluate every policy level: global -> service -> API.
    const levels = api?.policies ?? this.globalLevels(snapshot);
    const document = buildPolicyInput({
      request: input,
      segments: normalized.segments,
      query: parseQuery(normalized.query),
      api,
      params: match?.params ?? {},
      claims,
    });
    // Encoded once, shared by every level.
    const encoded = new TextEncoder().encode(JSON.stringify(document));
    const outcome = evaluateLevels(snapshot, levels, encoded.buffer);

    // 4. Respond.
    if (!outcome.ok) {
      return deny(outcome.code, outcome.reason, {
        realm,
        revision,
        api: apiRef,
        status: outcome.verdict?.httpStatus,
        headers: outcome.verdict?.headers,
        body: outcome.verdict?.body,
      });
    }
    const responseHeaders: Array<readonly [string, string]> = [];
    // A client must never choose a header the API fills from the token: strip it always,
    // and set it only from verified claims.
    const claimMapping = api?.claimsToHeaders ?? [];
    const toRemove = new Set<string>(claimMapping.map(([header]) => header));
    for (const verdict of outcome.verdicts) {
      responseHeaders.push(...verdict.responseHeadersToAdd);
      for (const name of verdict.requestHeadersToRemove) toRemove.add(name);
    }
    return {
      allowed: true,
      code: 'GH_OK',
      api: apiRef,
      upstreamHeaders: innerLevelWins([
        claimsToHeaders(claimMapping, claims),
        ...outcome.verdicts.map((verdict) => verdict.headers),
      ]),
      upstreamHeadersToRemove: [...toRemove],
      responseHeaders,
      revision,
    };
  }

  /** For requests that match no API (allowUnknownApis): only the global policy, if any. */
  private globalLevels(snapshot: Snapshot): ApiDefinition['policies'] {
    const global = snapshot.catalog.globalPolicy;
    return global === undefined ? [] : [{ level: 'global', package: global }];
  }

  private log(input: CheckInput, decision: Decision): void {
    const logger = this.options.logger;
    if (decision.allowed) {
      if (logger.isLevelEnabled('debug')) {
        logger.debug(
          {
            transport: input.transport,
            method: input.method,
            path: input.path,
            api: decision.api?.id,
          },
          LOG.checkAllowed,
        );
      }
      return;
    }
    logger.info(
      {
        transport: input.transport,
        code: decision.code,
        reason: decision.reason,
        status: decision.status,
        method: input.method,
        path: input.path,
        api: decision.api?.id,
        revision: decision.revision,
      },
      LOG.checkDenied,
    );
  }
}

/**
 * An inner level's header replaces an outer level's header of the same name (API over
 * service over global); several values for one name from the same level all stay.
 */
function innerLevelWins(levels: readonly HeaderList[]): HeaderList {
  const byName = new Map<string, Array<readonly [string, string]>>();
  for (const headers of levels) {
    const setHere = new Set<string>();
    for (const header of headers) {
      if (!setHere.has(header[0])) byName.set(header[0], []);
      setHere.add(header[0]);
      byName.get(header[0])?.push(header);
    }
  }
  return [...byName.values()].flat();
}
