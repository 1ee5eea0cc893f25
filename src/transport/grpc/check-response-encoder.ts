import type { AllowDecision, Decision, HeaderList } from '../../decision/decision.js';
import { DENY_CODES, GrpcCode, type DenyCode } from '../../decision/deny-codes.js';
import { HeaderAppendAction } from './wire-types.js';
import { preEncode, WireWriter } from './wire-writer.js';

/**
 * Decision -> Envoy ext_authz v3 CheckResponse wire bytes, in one pass.
 *
 * Allow: status OK and an ok_response with the upstream header changes. Deny: the deny
 * code's gRPC status and an explicit denied_response, which Envoy sends to the client as is,
 * whatever `failure_mode_allow` says. `error_response` is never used: Envoy treats it as a
 * failure, and failures can be configured to pass.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/service/auth/v3/external_auth.proto
 *
 * Field numbers from proto/envoy/service/auth/v3/external_auth.proto,
 * envoy/config/core/v3/base.proto, envoy/type/v3/http_status.proto, google/rpc/status.proto
 * and google/protobuf/struct.proto. The bytes are those protobufjs wrote for the plain
 * message the old mapper built (proto-loader's fromObject + encode: fields in number order,
 * every set field written even when it holds its default), without the message objects in
 * between; check-response-encoder.property.test.ts in test/transport/grpc/ compares the two
 * on generated decisions. The parts that never change (the OK status, each deny code's
 * status, the empty allow) are encoded once, here.
 *
 * Throws only on a bug (or a value no JSON policy result holds); the service wrapper then
 * answers the pre-encoded GH_ERR_INTERNAL deny.
 */
export function encodeCheckResponse(decision: Decision): Buffer {
  if (decision.allowed && isBareAllow(decision)) return BARE_ALLOW;
  const w = writer;
  w.reset();
  if (decision.allowed) {
    w.raw(OK_STATUS);
    const ok = w.fork(CheckResponse.ok_response);
    headerOptions(w, OkHttpResponse.headers, decision.upstreamHeaders);
    // removalsAfterSet (decision.ts), with the names just set still in `seen`: Envoy removes
    // after it sets, so a name set here must not be removed too.
    for (const name of decision.upstreamHeadersToRemove) {
      if (seen.length === 0 || !seen.includes(name.toLowerCase())) {
        w.stringField(OkHttpResponse.headers_to_remove, name);
      }
    }
    headerOptions(w, OkHttpResponse.response_headers_to_add, decision.responseHeaders);
    // Only when a policy asked: both are empty lists on the wire otherwise.
    if (decision.queryParametersToSet !== undefined) {
      for (const [key, value] of decision.queryParametersToSet) {
        const parameter = w.fork(OkHttpResponse.query_parameters_to_set);
        w.stringField(QueryParameter.key, key);
        w.stringField(QueryParameter.value, value);
        w.ldelim(parameter);
      }
    }
    if (decision.queryParametersToRemove !== undefined) {
      for (const name of decision.queryParametersToRemove) {
        w.stringField(OkHttpResponse.query_parameters_to_remove, name);
      }
    }
    w.ldelim(ok);
  } else {
    const status = DENY_STATUS[decision.code] as Buffer | undefined;
    if (status === undefined) throw new TypeError(`${decision.code} is not a deny code`);
    w.raw(status);
    const denied = w.fork(CheckResponse.denied_response);
    // Envoy answers any non-zero code as given (0, "Empty", would become 403).
    const httpStatus = w.fork(DeniedHttpResponse.status);
    w.int32Field(HttpStatus.code, decision.status);
    w.ldelim(httpStatus);
    headerOptions(w, DeniedHttpResponse.headers, decision.headers);
    w.stringField(DeniedHttpResponse.body, decision.body);
    w.ldelim(denied);
  }
  // A policy's dynamic_metadata goes to CheckResponse.dynamic_metadata (field 4; the
  // OkHttpResponse one is deprecated), on allow and deny alike, as opa-envoy-plugin sends it.
  if (decision.dynamicMetadata !== undefined) {
    const metadata = w.fork(CheckResponse.dynamic_metadata);
    struct(w, decision.dynamicMetadata);
    w.ldelim(metadata);
  }
  return w.finish();
}

// ---- field numbers -----------------------------------------------------------------------

const CheckResponse = { status: 1, denied_response: 2, ok_response: 3, dynamic_metadata: 4 };
const RpcStatus = { code: 1, message: 2 };
const DeniedHttpResponse = { status: 1, headers: 2, body: 3 };
const HttpStatus = { code: 1 };
const OkHttpResponse = {
  headers: 2,
  headers_to_remove: 5,
  response_headers_to_add: 6,
  query_parameters_to_set: 7,
  query_parameters_to_remove: 8,
};
const HeaderValueOption = { header: 1, append_action: 3 };
const HeaderValue = { key: 1, value: 2 };
const QueryParameter = { key: 1, value: 2 };
const Struct = { fields: 1 };
const MapEntry = { key: 1, value: 2 };
const Value = {
  null_value: 1,
  number_value: 2,
  string_value: 3,
  bool_value: 4,
  struct_value: 5,
  list_value: 6,
};
const ListValue = { values: 1 };

// ---- encoded once ------------------------------------------------------------------------

/** One writer for every call: encoding is synchronous, and reset() starts each message. */
const writer = new WireWriter();

/** status { code: OK, message: "" }: the status of every allow. */
const OK_STATUS = preEncode((w) => {
  const status = w.fork(CheckResponse.status);
  w.int32Field(RpcStatus.code, GrpcCode.OK);
  w.stringField(RpcStatus.message, '');
  w.ldelim(status);
});

/** The allow that changes nothing (no headers, no query, no metadata). Never modified. */
const BARE_ALLOW = preEncode((w) => {
  w.raw(OK_STATUS);
  w.ldelim(w.fork(CheckResponse.ok_response));
});

/**
 * Each deny code's status: its gRPC code and, as the message, the code only (the deny's
 * `reason` may hold token or policy details meant for our logs).
 */
const DENY_STATUS = Object.fromEntries(
  (Object.keys(DENY_CODES) as DenyCode[]).map((code) => [
    code,
    preEncode((w) => {
      const status = w.fork(CheckResponse.status);
      w.int32Field(RpcStatus.code, DENY_CODES[code].grpcCode);
      w.stringField(RpcStatus.message, code);
      w.ldelim(status);
    }),
  ]),
) as Record<DenyCode, Buffer>;

function isBareAllow(decision: AllowDecision): boolean {
  return (
    decision.upstreamHeaders.length === 0 &&
    decision.upstreamHeadersToRemove.length === 0 &&
    decision.responseHeaders.length === 0 &&
    decision.queryParametersToSet === undefined &&
    decision.queryParametersToRemove === undefined &&
    decision.dynamicMetadata === undefined
  );
}

// ---- headers -----------------------------------------------------------------------------

/**
 * The lower-cased names of the header list last written (reused: encoding is synchronous);
 * after the upstream headers, the names the removals are checked against.
 */
const seen: string[] = [];

/**
 * The first value of each name overwrites whatever the request carried, so a client cannot
 * send its own `x-user` and have it survive next to ours; later values of the same name
 * append to ours instead of replacing them (the list may repeat a name on purpose).
 *
 * `append` (the deprecated BoolValue) stays unset: when it is set Envoy ignores
 * `append_action` (ext_authz_grpc_impl.cc, getAppendAction).
 */
function headerOptions(w: WireWriter, field: number, headers: HeaderList): void {
  // What the previous list left (the upstream names, kept for the removals) goes first.
  seen.length = 0;
  for (const [key, value] of headers) {
    const name = key.toLowerCase();
    // A linear scan: a decision sets a handful of headers.
    const first = !seen.includes(name);
    seen.push(name);
    const option = w.fork(field);
    const header = w.fork(HeaderValueOption.header);
    w.stringField(HeaderValue.key, key);
    w.stringField(HeaderValue.value, value);
    w.ldelim(header);
    w.uint32Field(
      HeaderValueOption.append_action,
      first
        ? HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD
        : HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD,
    );
    w.ldelim(option);
  }
}

// ---- google.protobuf.Struct --------------------------------------------------------------

/**
 * A JSON object as a Struct: protojson's mapping (https://protobuf.dev/programming-guides/json/),
 * numbers as doubles; keys in Object.entries order, `__proto__` included as a key.
 */
function struct(w: WireWriter, object: Readonly<Record<string, unknown>>): void {
  for (const [key, value] of Object.entries(object)) {
    const entry = w.fork(Struct.fields);
    w.stringField(MapEntry.key, key);
    const member = w.fork(MapEntry.value);
    jsonValue(w, value);
    w.ldelim(member);
    w.ldelim(entry);
  }
}

/** One Value: exactly one member of its `kind` oneof; anything that is not JSON is null. */
function jsonValue(w: WireWriter, value: unknown): void {
  switch (typeof value) {
    case 'number':
      w.doubleField(Value.number_value, value);
      return;
    case 'string':
      w.stringField(Value.string_value, value);
      return;
    case 'boolean':
      w.boolField(Value.bool_value, value);
      return;
    case 'object': {
      if (value === null) break;
      if (Array.isArray(value)) {
        const list = w.fork(Value.list_value);
        for (const item of value as readonly unknown[]) {
          const member = w.fork(ListValue.values);
          jsonValue(w, item);
          w.ldelim(member);
        }
        w.ldelim(list);
        return;
      }
      const nested = w.fork(Value.struct_value);
      struct(w, value as Record<string, unknown>);
      w.ldelim(nested);
      return;
    }
    default:
      break;
  }
  // NullValue.NULL_VALUE (0).
  w.uint32Field(Value.null_value, 0);
}
