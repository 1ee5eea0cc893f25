/**
 * The plain-object shapes @grpc/proto-loader decodes and encodes for the messages in proto/
 * (options in load-protos.ts: snake_case names, enums and 64-bit integers as numbers,
 * defaults filled in, unset message fields null, unset oneof members absent).
 *
 * Request-side shapes mark every field optional and nullable: the mappers narrow each field
 * at run time anyway, and test fixtures can stay as small as what Envoy actually sends.
 * Response-side shapes describe what Gatehouse builds.
 */

// ---- envoy.config.core.v3 ----------------------------------------------------------------

export interface HeaderValueMessage {
  readonly key?: string;
  readonly value?: string;
  /** Set instead of `value` in CheckRequest.header_map (`encode_raw_headers: true`). */
  readonly raw_value?: Uint8Array;
}

export interface SocketAddressMessage {
  readonly protocol?: number;
  readonly address?: string;
  readonly port_value?: number;
  readonly named_port?: string;
  readonly resolver_name?: string;
  readonly ipv4_compat?: boolean;
}

export interface AddressMessage {
  readonly socket_address?: SocketAddressMessage | null;
  readonly pipe?: { readonly path?: string; readonly mode?: number } | null;
  readonly envoy_internal_address?: {
    readonly server_listener_name?: string;
    readonly endpoint_id?: string;
  } | null;
}

/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction */
export const HeaderAppendAction = {
  APPEND_IF_EXISTS_OR_ADD: 0,
  ADD_IF_ABSENT: 1,
  OVERWRITE_IF_EXISTS_OR_ADD: 2,
  OVERWRITE_IF_EXISTS: 3,
} as const;
export type HeaderAppendAction = (typeof HeaderAppendAction)[keyof typeof HeaderAppendAction];

export interface HeaderValueOptionMessage {
  readonly header: { readonly key: string; readonly value: string };
  readonly append_action: HeaderAppendAction;
}

// ---- envoy.service.auth.v3: the request --------------------------------------------------

export interface PeerMessage {
  readonly address?: AddressMessage | null;
  readonly service?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly principal?: string;
  readonly certificate?: string;
}

export interface HttpRequestMessage {
  readonly id?: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly header_map?: { readonly headers?: readonly HeaderValueMessage[] } | null;
  readonly path?: string;
  readonly host?: string;
  readonly scheme?: string;
  readonly query?: string;
  readonly fragment?: string;
  readonly size?: number;
  readonly protocol?: string;
  readonly body?: string;
  readonly raw_body?: Uint8Array;
}

export interface AttributeContextMessage {
  readonly source?: PeerMessage | null;
  readonly destination?: PeerMessage | null;
  readonly request?: {
    readonly time?: { readonly seconds?: number; readonly nanos?: number } | null;
    readonly http?: HttpRequestMessage | null;
  } | null;
  readonly context_extensions?: Readonly<Record<string, string>>;
  readonly metadata_context?: MetadataMessage | null;
  readonly route_metadata_context?: MetadataMessage | null;
  readonly tls_session?: { readonly sni?: string } | null;
}

/** envoy.config.core.v3.Metadata: typed_filter_metadata (Any) is decoded but not mapped. */
export interface MetadataMessage {
  readonly filter_metadata?: Readonly<Record<string, StructMessage>>;
  readonly typed_filter_metadata?: Readonly<
    Record<string, { readonly type_url?: string; readonly value?: Uint8Array }>
  >;
}

/** google.protobuf.Struct as proto-loader holds it: protobufjs's built-in struct.proto names Value's fields in camelCase (keepCase keeps them so), the set member's name in `kind`. */
export interface StructMessage {
  readonly fields?: Readonly<Record<string, ValueMessage>>;
}

export interface ValueMessage {
  readonly kind?: string;
  readonly nullValue?: number;
  readonly numberValue?: number;
  readonly stringValue?: string;
  readonly boolValue?: boolean;
  readonly structValue?: StructMessage | null;
  readonly listValue?: { readonly values?: readonly ValueMessage[] } | null;
}

export interface CheckRequestMessage {
  readonly attributes?: AttributeContextMessage | null;
}

// ---- envoy.service.auth.v3: the response -------------------------------------------------

export interface RpcStatusMessage {
  /** A google.rpc.Code value. */
  readonly code: number;
  readonly message: string;
}

export interface DeniedHttpResponseMessage {
  readonly status: { readonly code: number };
  readonly headers: readonly HeaderValueOptionMessage[];
  readonly body: string;
}

export interface OkHttpResponseMessage {
  readonly headers: readonly HeaderValueOptionMessage[];
  readonly headers_to_remove: readonly string[];
  readonly response_headers_to_add: readonly HeaderValueOptionMessage[];
  readonly query_parameters_to_set?: ReadonlyArray<{
    readonly key: string;
    readonly value: string;
  }>;
  readonly query_parameters_to_remove?: readonly string[];
}

/** Exactly one of `denied_response` and `ok_response` is set (a oneof on the wire). */
export interface CheckResponseMessage {
  readonly status: RpcStatusMessage;
  readonly denied_response?: DeniedHttpResponseMessage | null;
  readonly ok_response?: OkHttpResponseMessage | null;
  readonly dynamic_metadata?: StructMessage | null;
}

// ---- grpc.health.v1 ----------------------------------------------------------------------

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const ServingStatus = {
  UNKNOWN: 0,
  SERVING: 1,
  NOT_SERVING: 2,
  SERVICE_UNKNOWN: 3,
} as const;
export type ServingStatus = (typeof ServingStatus)[keyof typeof ServingStatus];

export interface HealthCheckRequestMessage {
  readonly service?: string;
}

export interface HealthCheckResponseMessage {
  readonly status: number;
}
