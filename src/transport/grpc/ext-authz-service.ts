import type { handleUnaryCall, MethodDefinition } from '@grpc/grpc-js';
import type { Authorizer } from '../../check/authorizer.js';
import type { CheckInput } from '../../check/check-input.js';
import { deny, type Decision } from '../../decision/decision.js';
import type { Logger } from '../../observability/logger.js';
import { LOG } from '../../observability/log-messages.js';
import { decodeCheckRequest } from './check-request-decoder.js';
import { encodeCheckResponse } from './check-response-encoder.js';
import type { AuthorizationServiceDefinition } from './load-protos.js';

/**
 * GH_ERR_INTERNAL carries no WWW-Authenticate challenge, so this realm never reaches a
 * client; deny() only needs one to build challenges for the codes that have them.
 */
const INTERNAL_DENY_REALM = 'gatehouse';

export interface ExtAuthzServiceOptions {
  readonly authorizer: Authorizer;
  readonly logger: Logger;
  /**
   * Largest CheckRequest decoded, in bytes. A larger one is answered with an explicit deny
   * (GH_ERR_INTERNAL) rather than a gRPC RESOURCE_EXHAUSTED error.
   */
  readonly maxRequestBytes: number;
}

/**
 * What the Check decoder hands the handler: the CheckInput decoded straight from the wire
 * bytes, or why the bytes could not be decoded.
 */
export type DecodedCheckRequest =
  | { readonly input: CheckInput; readonly error?: undefined }
  | { readonly input?: undefined; readonly error: Error };

// A type alias, not an interface: grpc-js's ServiceDefinition is an index-signature type.
export type ExtAuthzServerDefinition = {
  readonly Check: MethodDefinition<DecodedCheckRequest, Decision>;
};

export interface ExtAuthzService {
  /**
   * The Authorization service as served: Check decodes with decodeCheckRequest and encodes
   * with encodeCheckResponse (not proto-loader), both wrapped to fail closed.
   */
  readonly definition: ExtAuthzServerDefinition;
  readonly implementation: {
    readonly Check: handleUnaryCall<DecodedCheckRequest, Decision>;
  };
}

/**
 * envoy.service.auth.v3.Authorization/Check: CheckRequest bytes -> CheckInput (one direct
 * decoder, check-request-decoder.ts) -> authorizer -> Decision -> CheckResponse bytes (one
 * direct encoder, check-response-encoder.ts). `authorization` (from proto-loader) supplies
 * the method's path.
 *
 * It never answers with a gRPC error. Envoy counts an error status as a failed check, and
 * `failure_mode_allow: true` lets failed checks through (CVE-2023-27488, CVE-2024-23324).
 * So a throw at any step becomes an explicit denied_response, logged as LOG.checkFailed:
 * - decoding: grpc-js would answer INTERNAL, so the decoder is wrapped and hands the handler
 *   the error instead of a CheckInput;
 * - the authorizer: caught in the handler;
 * - encoding: grpc-js would answer INTERNAL, so the encoder is wrapped and falls back to the
 *   encoded internal deny.
 */
export function createExtAuthzService(
  authorization: AuthorizationServiceDefinition,
  options: ExtAuthzServiceOptions,
): ExtAuthzService {
  const { authorizer, logger, maxRequestBytes } = options;
  const check = authorization.Check;

  // Built once, at start-up: the reply for every internal failure. Its `reason` is only for
  // logs, and the failure's own details are logged beside it.
  const internalDeny = deny('GH_ERR_INTERNAL', 'the check failed internally', {
    realm: INTERNAL_DENY_REALM,
  });
  const internalDenyBytes = encodeCheckResponse(internalDeny);

  const failed = (stage: 'decode' | 'check' | 'encode', error: unknown): void => {
    logger.error({ err: error, code: 'GH_ERR_INTERNAL', stage }, LOG.checkFailed);
  };

  const answer = async (request: DecodedCheckRequest): Promise<Decision> => {
    try {
      if (request.input === undefined) {
        failed('decode', request.error);
        return internalDeny;
      }
      return await authorizer.check(request.input);
    } catch (error) {
      failed('check', error);
      return internalDeny;
    }
  };

  const definition: ExtAuthzServerDefinition = {
    Check: {
      path: check.path,
      requestStream: check.requestStream,
      responseStream: check.responseStream,
      // Only clients serialize requests and deserialize responses; a server never calls
      // these two (clients use load-protos.ts's definition).
      requestSerialize: (request) => {
        throw new Error(
          `the server's Check definition does not encode requests (${typeof request})`,
        );
      },
      responseDeserialize: (bytes) => {
        throw new Error(
          `the server's Check definition does not decode responses (${bytes.length} bytes)`,
        );
      },
      requestDeserialize: (bytes): DecodedCheckRequest => {
        try {
          if (bytes.length > maxRequestBytes) {
            throw new Error(
              `CheckRequest of ${bytes.length} bytes exceeds the limit of ${maxRequestBytes}`,
            );
          }
          return { input: decodeCheckRequest(bytes) };
        } catch (error) {
          return { error: error instanceof Error ? error : new Error(String(error)) };
        }
      },
      responseSerialize: (decision) => {
        try {
          return encodeCheckResponse(decision);
        } catch (error) {
          failed('encode', error);
          return internalDenyBytes;
        }
      },
    },
  };

  return {
    definition,
    implementation: {
      Check: (call, callback) => {
        // The second handler only runs if logging itself threw inside `answer`: even then
        // the client gets the deny rather than a call left to time out.
        void answer(call.request).then(
          (response) => {
            callback(null, response);
          },
          () => {
            callback(null, internalDeny);
          },
        );
      },
    },
  };
}
