import type { IssuerKeys } from '../auth/issuer-keys.js';
import type { KeysRefreshedAt } from '../auth/key-freshness.js';
import type {
  VerifiedTokenCache,
  VerifiedTokenCacheOptions,
} from '../auth/verified-token-cache.js';
import type { Logger } from '../observability/logger.js';
import { LOG } from '../observability/log-messages.js';
import type { Metrics } from '../observability/metrics.js';
import type { CheckObserver } from '../observability/check-observer.js';
import { PhaseClock } from '../observability/check-phases.js';
import { traceIdOf } from '../observability/trace-context.js';
import type { ApiAuth, ApiDefinition } from '../routes/catalog.js';
import { normalizeRequestAuthority } from '../routes/normalize-authority.js';
import { normalizePath, parseQuery } from '../routes/normalize-path.js';
import type { SnapshotStore } from '../snapshot/snapshot-store.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import { Authenticator, type DpopSettings, type TokenIntrospector } from './authenticate.js';
import type { Authorizer } from './authorizer.js';
import type { CheckInput } from './check-input.js';
import { allowHeaders } from './allow-headers.js';
import { claimsToHeaders } from './claims-to-headers.js';
import {
  deny,
  type AllowDecision,
  type Decision,
  type MatchedApiRef,
} from '../decision/decision.js';
import { evaluateLevels } from './evaluate-policies.js';
import { evaluateShadows, reportShadows } from './shadow-levels.js';
import { effectiveMethod, type MethodOverrideMode } from './method-override.js';
import { encodePolicyInput } from './encode-policy-input.js';
import { buildOpaEnvoyInput } from './opa-envoy-input.js';
import {
  decisionLevel,
  dryRunAllow,
  isDryRunDeny,
  NO_TOKEN_AUTH,
  queryAndMetadata,
  transportCannotApply,
  type OpaEnvoyOptions,
} from './opa-envoy-mode.js';
import type { PipelineObserver } from './pipeline-observer.js';

export interface PipelineOptions {
  readonly realm: string;
  readonly allowUnknownApis: boolean;
  readonly maxTokenBytes: number;
  readonly clockSkewS: number;
  /** `tokens.cacheMaxEntries` and `tokens.cacheMaxTtlS`: the verified-token cache. */
  readonly tokenCache: VerifiedTokenCacheOptions;
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
  /** DPoP proof checks (RFC 9449): `tokens.dpop`. */
  readonly dpop: DpopSettings;
  /** `routing.methodOverride`: strip override headers (default) or authorize their method. */
  readonly methodOverride?: MethodOverrideMode;
  /** Told of every decision after it is made (decision logs, phase metrics, traces). */
  readonly observer?: CheckObserver;
  /** OPA-Envoy compatibility mode (config `opaEnvoy`); unset: the catalog alone decides. */
  readonly opaEnvoy?: OpaEnvoyOptions;
  /** Hooks into each step (gatehouse explain); unset on a running server. */
  readonly stepObserver?: PipelineObserver;
}

const UTF8 = new TextEncoder();

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
      tokenCache: options.tokenCache,
      dpop: options.dpop,
      keysForUnknownKid: options.keysForUnknownKid,
      keysRefreshedAt: options.keysRefreshedAt,
      introspectors: options.introspectors,
    });
  }

  /** The verified-token cache a check on `snapshot` uses (for status and tests). */
  tokenCacheFor(snapshot: Snapshot): VerifiedTokenCache {
    return this.authenticator.tokenCaches.for(snapshot);
  }

  isReady(): boolean {
    return this.store.current() !== undefined;
  }

  async check(input: CheckInput): Promise<Decision> {
    const started = process.hrtime.bigint();
    const phases = new PhaseClock();
    let decision: Decision;
    try {
      decision = await this.decide(input, phases);
    } catch (error) {
      // Fail closed: a bug anywhere in the pipeline is an explicit deny.
      this.options.logger.error(
        { err: error, transport: input.transport, request_id: input.requestId },
        LOG.checkFailed,
      );
      decision = deny('GH_ERR_INTERNAL', `internal error: ${String(error)}`, {
        realm: this.options.realm,
        revision: this.store.current()?.revision,
      });
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.options.metrics.checkDuration.observe({ transport: input.transport }, seconds);
    this.options.metrics.decisions.inc({
      transport: input.transport,
      code: decision.code,
      api: decision.api?.id,
    });
    if (!decision.allowed && decision.detail !== undefined) {
      const { code, detail } = decision;
      this.options.metrics.denyDetails.inc({ transport: input.transport, code, detail });
    }
    this.log(input, decision);
    // Shadow policies (docs/shadow.md): compared with the decision as made, never applied.
    if (phases.shadows !== undefined) {
      reportShadows(phases.shadows, input, decision, this.options.logger, this.options.metrics);
    }
    phases.finish();
    // Hands the decision over and returns: the observer queues, it never waits on a sink.
    this.options.observer?.decided(input, decision, phases);
    // opaEnvoy.dryRun: counted and logged as decided above, then allowed.
    if (isDryRunDeny(this.options.opaEnvoy, decision)) {
      this.options.logger.info({ code: decision.code, path: input.path }, LOG.dryRunAllowed);
      return dryRunAllow(
        decision,
        this.store.current()?.identityHeaders ?? this.options.opaEnvoy?.identityHeaders ?? [],
      );
    }
    return decision;
  }

  private async decide(input: CheckInput, phases: PhaseClock): Promise<Decision> {
    // Take the snapshot once: everything below reads this one, whatever swaps meanwhile.
    const snapshot = this.store.current();
    const realm = this.options.realm;
    if (snapshot === undefined) {
      return deny('GH_ERR_NO_SNAPSHOT', 'no snapshot has been activated yet', { realm });
    }
    const revision = snapshot.revision;

    // Which method is authorized: the request's own, or (routing.methodOverride: authorize)
    // a POST's override. Authentication still sees the request as sent (DPoP's htm).
    const override = effectiveMethod(input, this.options.methodOverride ?? 'strip');
    if (!override.ok) return deny('GH_ERR_INVALID_REQUEST', override.reason, { realm, revision });
    const method = override.method;

    // 1. Route: the API decides which tokens are accepted and which policies apply.
    const normalized = normalizePath(input.path);
    if (!normalized.ok) {
      return deny('GH_ERR_PATH_INVALID', normalized.reason, { realm, revision });
    }
    // The host picks the route tier: one that is not a single clean authority is refused
    // here, never matched against the any-host routes (normalize-authority.ts).
    const authority = normalizeRequestAuthority(
      input.host,
      input.otherHostValues ?? [],
      input.scheme,
    );
    if (!authority.ok) {
      return deny('GH_ERR_HOST_INVALID', authority.reason, { realm, revision });
    }
    const match = snapshot.routes.match(authority.host, method, normalized.segments);
    const api: ApiDefinition | undefined = match?.value;
    const opaEnvoy = this.options.opaEnvoy;
    // In OPA-Envoy mode the decision rule answers checks that match no API.
    if (api === undefined && !this.options.allowUnknownApis && opaEnvoy === undefined) {
      return deny(
        'GH_ERR_API_UNKNOWN',
        `no API for ${method} ${normalized.path} on host "${authority.authority}"`,
        { realm, revision },
      );
    }
    this.options.stepObserver?.routed?.(api, match?.params ?? {});
    const apiRef: MatchedApiRef | undefined =
      api === undefined ? undefined : { id: api.id, service: api.service };
    phases.mark('route');

    // 2. Authenticate, as the API requires.
    const auth = api?.auth ?? (opaEnvoy === undefined ? UNKNOWN_API_AUTH : NO_TOKEN_AUTH);
    const authenticated = await this.authenticator.authenticate(input, snapshot, auth);
    phases.mark('auth');
    this.options.stepObserver?.authenticated?.(authenticated);
    if (!authenticated.ok) {
      return deny(authenticated.code, authenticated.reason, {
        realm,
        revision,
        api: apiRef,
        ...(authenticated.scopes === undefined ? {} : { scopes: authenticated.scopes }),
        ...(authenticated.headers === undefined ? {} : { headers: authenticated.headers }),
        detail: authenticated.detail,
      });
    }
    const claims = authenticated.claims;

    // 3. Evaluate every policy level: global -> service -> API.
    const catalogLevels = api?.policies ?? this.globalLevels(snapshot);
    const levels =
      opaEnvoy === undefined ? catalogLevels : [decisionLevel(opaEnvoy), ...catalogLevels];
    // OPA-Envoy mode: OPA-Envoy's own input document (opa-envoy-input.ts), plus token and api.
    const opaEnvoyInput =
      opaEnvoy === undefined
        ? undefined
        : buildOpaEnvoyInput({
            request: input,
            api,
            params: match?.params ?? {},
            claims,
            skipRequestBodyParse: opaEnvoy.skipRequestBodyParse,
          });
    if (opaEnvoyInput?.ok === false) {
      return deny('GH_ERR_INVALID_REQUEST', opaEnvoyInput.reason, { realm, revision, api: apiRef });
    }
    // Written to JSON once (encode-policy-input.ts, no intermediate object), shared by
    // every level.
    const inputText =
      opaEnvoyInput === undefined
        ? encodePolicyInput({
            // Policies see the host in normal form (the raw value stays in the headers) and
            // the method the route was chosen by.
            request: { ...input, method, host: authority.authority },
            segments: normalized.segments,
            query: parseQuery(normalized.query),
            api,
            params: match?.params ?? {},
            claims,
          })
        : JSON.stringify(opaEnvoyInput.document);
    const encoded = UTF8.encode(inputText);
    const outcome = evaluateLevels(snapshot, levels, encoded.buffer);
    // Shadow levels: evaluated beside the enforced ones, only recorded (docs/shadow.md).
    // An API without shadows has no global one either (it would be in api.shadows).
    const shadows = api?.shadows ?? snapshot.catalog.globalShadows;
    if (shadows !== undefined) {
      phases.shadows = evaluateShadows(snapshot, shadows, levels, outcome, encoded.buffer);
    }
    phases.mark('evaluate');
    this.options.stepObserver?.evaluated?.(levels, outcome);

    // 4. Respond.
    if (!outcome.ok) {
      return deny(outcome.code, outcome.reason, {
        realm,
        revision,
        api: apiRef,
        status: outcome.verdict?.httpStatus,
        headers: outcome.verdict?.headers,
        body: outcome.verdict?.body,
        dynamicMetadata: outcome.verdict?.dynamicMetadata,
      });
    }
    // A client must never choose an identity header (any API's claimsToHeaders, or
    // routing.identityHeaders): each is removed unless set here from verified claims.
    const claimHeaders = claimsToHeaders(api?.claimsToHeaders ?? [], claims);
    if (!claimHeaders.ok) {
      return deny('GH_ERR_CLAIM_NOT_REPRESENTABLE', claimHeaders.reason, {
        realm,
        revision,
        api: apiRef,
      });
    }
    const responseHeaders = [
      ...(authenticated.responseHeaders ?? []),
      ...outcome.verdicts.flatMap((verdict) => verdict.responseHeadersToAdd),
    ];
    const allow: AllowDecision = {
      allowed: true,
      code: 'GH_OK',
      api: apiRef,
      ...queryAndMetadata(outcome.verdicts),
      ...allowHeaders({
        claimHeaders: claimHeaders.headers,
        levelHeaders: outcome.verdicts.map((verdict) => verdict.headers),
        overrideHeaders: override.headers,
        identityHeaders: snapshot.identityHeaders,
        policyRemovals: outcome.verdicts.flatMap((verdict) => verdict.requestHeadersToRemove),
      }),
      responseHeaders,
      revision,
    };
    const unapplicable = transportCannotApply(allow, input.transport);
    if (unapplicable !== undefined) {
      return deny('GH_ERR_POLICY_RESULT_INVALID', unapplicable, { realm, revision, api: apiRef });
    }
    return allow;
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
            request_id: input.requestId,
            trace_id: traceIdOf(input.headers),
          },
          LOG.checkAllowed,
        );
      }
      return;
    }
    // The deny line is info: at warn or above, skip building it (and reading the trace id).
    if (!logger.isLevelEnabled('info')) return;
    logger.info(
      {
        transport: input.transport,
        code: decision.code,
        detail: decision.detail,
        reason: decision.reason,
        status: decision.status,
        method: input.method,
        path: input.path,
        api: decision.api?.id,
        revision: decision.revision,
        request_id: input.requestId,
        trace_id: traceIdOf(input.headers),
      },
      LOG.checkDenied,
    );
  }
}
