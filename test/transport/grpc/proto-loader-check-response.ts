import {
  removalsAfterSet,
  type Decision,
  type HeaderList,
} from '../../../src/decision/decision.js';
import { DENY_CODES, GrpcCode } from '../../../src/decision/deny-codes.js';
import { loadProtos } from '../../../src/transport/grpc/load-protos.js';
import {
  HeaderAppendAction,
  type CheckResponseMessage,
  type HeaderValueOptionMessage,
} from '../../../src/transport/grpc/wire-types.js';
import { jsonToStruct } from '../../../src/transport/grpc/struct-json.js';

/**
 * The old CheckResponse path, kept only as the oracle the direct encoder
 * (src/transport/grpc/check-response-encoder.ts) is tested against: decisionToCheckResponse
 * builds the plain message and proto-loader encodes it (protobufjs fromObject + encode with
 * the load-protos.ts options). Gatehouse served Check with exactly this until the direct
 * encoder replaced it (issue 10).
 */
const check = loadProtos().authorization.Check;

/** The old path end to end: Decision -> CheckResponse wire bytes. */
export function protoLoaderCheckResponse(decision: Decision): Buffer {
  return check.responseSerialize(decisionToCheckResponse(decision));
}

/**
 * Decision -> Envoy ext_authz v3 CheckResponse (the plain object proto-loader encodes).
 *
 * Allow: status OK and an ok_response with the upstream header changes. Deny: the deny
 * code's gRPC status and an explicit denied_response, which Envoy sends to the client as is,
 * whatever `failure_mode_allow` says. `error_response` is never used: Envoy treats it as a
 * failure, and failures can be configured to pass.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/service/auth/v3/external_auth.proto
 */
export function decisionToCheckResponse(decision: Decision): CheckResponseMessage {
  // A policy's dynamic_metadata goes to CheckResponse.dynamic_metadata (field 4; the
  // OkHttpResponse one is deprecated), on allow and deny alike, as opa-envoy-plugin sends it.
  const metadata =
    decision.dynamicMetadata === undefined
      ? {}
      : { dynamic_metadata: jsonToStruct(decision.dynamicMetadata) };
  if (decision.allowed) {
    return {
      status: { code: GrpcCode.OK, message: '' },
      ok_response: {
        headers: headerOptions(decision.upstreamHeaders),
        headers_to_remove: removalsAfterSet(decision),
        response_headers_to_add: headerOptions(decision.responseHeaders),
        // Only when a policy asked: both are empty lists on the wire otherwise.
        ...(decision.queryParametersToSet === undefined
          ? {}
          : {
              query_parameters_to_set: decision.queryParametersToSet.map(([key, value]) => ({
                key,
                value,
              })),
            }),
        ...(decision.queryParametersToRemove === undefined
          ? {}
          : { query_parameters_to_remove: [...decision.queryParametersToRemove] }),
      },
      ...metadata,
    };
  }
  return {
    ...metadata,
    status: {
      code: DENY_CODES[decision.code].grpcCode,
      // The code only: `reason` may hold token or policy details meant for our logs.
      message: decision.code,
    },
    denied_response: {
      // Envoy answers any non-zero code as given (0, "Empty", would become 403).
      status: { code: decision.status },
      headers: headerOptions(decision.headers),
      body: decision.body,
    },
  };
}

/**
 * The first value of each name overwrites whatever the request carried, so a client cannot
 * send its own `x-user` and have it survive next to ours; later values of the same name
 * append to ours instead of replacing them (the list may repeat a name on purpose).
 *
 * `append` (the deprecated BoolValue) stays unset: when it is set Envoy ignores
 * `append_action` (ext_authz_grpc_impl.cc, getAppendAction).
 */
function headerOptions(headers: HeaderList): HeaderValueOptionMessage[] {
  const seen = new Set<string>();
  return headers.map(([key, value]) => {
    const name = key.toLowerCase();
    const first = !seen.has(name);
    seen.add(name);
    return {
      header: { key, value },
      append_action: first
        ? HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD
        : HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD,
    };
  });
}
