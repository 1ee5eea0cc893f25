import type { JWTPayload } from 'jose';
import type { ApiDefinition } from '../routes/catalog.js';
import type { CheckInput, PeerInfo } from './check-input.js';

/**
 * The input document every policy level sees. It keeps OPA-Envoy's shape, so policies
 * written for opa-envoy-plugin read the request the same way, and adds what Gatehouse has
 * already verified: `token` (the verified claims, or null) and `api` (the matched API).
 */
export interface PolicyInputParts {
  readonly request: CheckInput;
  readonly segments: readonly string[];
  readonly query: Readonly<Record<string, string[]>>;
  readonly api: ApiDefinition | undefined;
  readonly params: Readonly<Record<string, string>>;
  readonly claims: JWTPayload | undefined;
}

export function buildPolicyInput(parts: PolicyInputParts): Record<string, unknown> {
  const { request, api } = parts;
  return {
    attributes: {
      source: peer(request.source),
      destination: peer(request.destination),
      request: {
        http: {
          id: request.requestId,
          method: request.method,
          path: request.path,
          host: request.host,
          scheme: request.scheme,
          protocol: request.protocol,
          headers: request.headers,
          ...(request.body === '' ? {} : { body: request.body }),
        },
      },
      contextExtensions: request.contextExtensions,
    },
    parsed_path: parts.segments,
    parsed_query: parts.query,
    version: { ext_authz: 'v3', encoding: 'protojson' },
    token: parts.claims ?? null,
    api:
      api === undefined
        ? null
        : {
            id: api.id,
            service: api.service,
            path_template: api.pathTemplate,
            params: parts.params,
          },
  };
}

/** Envoy's AttributeContext.Peer in protojson field names, as OPA-Envoy exposes it. */
function peer(info: PeerInfo): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  if (info.address !== undefined && info.address !== '') {
    result.address = { socketAddress: { address: info.address, portValue: info.port ?? 0 } };
  }
  if (info.principal !== undefined && info.principal !== '') result.principal = info.principal;
  if (info.certificate !== undefined && info.certificate !== '')
    result.certificate = info.certificate;
  return result;
}
