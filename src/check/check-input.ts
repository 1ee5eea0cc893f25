/**
 * One normalized shape for "the request to authorize", whatever the transport.
 * The gRPC and HTTP adapters build it; the pipeline reads only it.
 */

export interface PeerInfo {
  readonly address?: string | undefined;
  readonly port?: number | undefined;
  /** SPIFFE ID or certificate subject, as Envoy reports it. */
  readonly principal?: string | undefined;
  /** URL-encoded PEM of the peer certificate, as Envoy reports it. */
  readonly certificate?: string | undefined;
  /** Envoy's Peer.service and Peer.labels, when it sends them (gRPC only). */
  readonly service?: string | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
}

/**
 * What an Envoy gRPC CheckRequest carries beyond the request itself, kept so the OPA-Envoy
 * input document holds it (AttributeContext, in protojson form: opa-envoy-plugin's
 * `input.attributes`). The HTTP transports have none of it.
 */
export interface EnvoyAttributes {
  /** AttributeContext.metadata_context as protojson (`filterMetadata`), when not empty. */
  readonly metadataContext?: Readonly<Record<string, unknown>> | undefined;
  readonly routeMetadataContext?: Readonly<Record<string, unknown>> | undefined;
  /** AttributeContext.tls_session.sni, when set. */
  readonly tlsSni?: string | undefined;
  /** AttributeContext.Request.time, RFC 3339 as protojson writes a Timestamp. */
  readonly requestTime?: string | undefined;
  /** HttpRequest.size: the request size in bytes, -1 when unknown; 0 when not sent. */
  readonly size?: number | undefined;
  /** The body came in `raw_body` (the filter's `pack_as_bytes: true`), not in `body`. */
  readonly rawBody?: boolean | undefined;
}

export type TransportName = 'grpc' | 'http-envoy' | 'nginx' | 'traefik' | 'json' | 'authzen';

export interface CheckInput {
  readonly transport: TransportName;
  /** Upper-case HTTP method. */
  readonly method: string;
  /** The request-target as the client sent it: path, query and possibly a fragment. */
  readonly path: string;
  /**
   * The Host / :authority, as received (may carry a port). Repeated headers arrive joined
   * with ",", which the route step refuses as ambiguous (normalize-authority.ts).
   */
  readonly host: string;
  readonly scheme: string;
  readonly protocol: string;
  /**
   * Request headers, names lower-cased. Repeated headers are joined with "," as Envoy does
   * (RFC 9110 section 5.3), so a second Authorization header stays visible.
   */
  readonly headers: Readonly<Record<string, string>>;
  readonly requestId: string;
  readonly body: string;
  readonly source: PeerInfo;
  readonly destination: PeerInfo;
  readonly contextExtensions: Readonly<Record<string, string>>;
  /**
   * Whether the peer that sent this check is a trusted proxy, so that headers it sets
   * about the client (X-Forwarded-Client-Cert, Client-Cert) may be believed. Default false.
   */
  readonly peerTrusted?: boolean;
  /**
   * Other places the request named its authority (gRPC: the `:authority` and `host`
   * entries of the headers map, beside Envoy's `host` attribute). Each must name the same
   * authority as `host` once normalized, or the request is ambiguous. Default none.
   */
  readonly otherHostValues?: readonly string[];
  /** gRPC only: the rest of Envoy's AttributeContext (see EnvoyAttributes). */
  readonly envoyAttributes?: EnvoyAttributes;
}
