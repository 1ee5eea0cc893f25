import type { handleUnaryCall } from '@grpc/grpc-js';
import type { Authorizer } from '../../check/authorizer.js';
import { deny } from '../../decision/decision.js';
import type { Logger } from '../../observability/logger.js';
import { LOG } from '../../observability/log-messages.js';
import { checkRequestToInput } from './ext-authz-request.js';
import { decisionToCheckResponse } from './ext-authz-response.js';
import type { AuthorizationServiceDefinition } from './load-protos.js';
import type { CheckRequestMessage, CheckResponseMessage } from './wire-types.js';

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

export interface ExtAuthzService {
  /** The Authorization service with its decoder and encoder wrapped to fail closed. */
  readonly definition: AuthorizationServiceDefinition;
  readonly implementation: {
    readonly Check: handleUnaryCall<CheckRequestMessage, CheckResponseMessage>;
  };
}

/**
 * envoy.service.auth.v3.Authorization/Check: CheckRequest -> CheckInput -> authorizer ->
 * CheckResponse.
 *
 * It never answers with a gRPC error. Envoy counts an error status as a failed check, and
 * `failure_mode_allow: true` lets failed checks through (CVE-2023-27488, CVE-2024-23324).
 * So a throw at any step becomes an explicit denied_response, logged as LOG.checkFailed:
 * - decoding: grpc-js would answer INTERNAL, so the decoder is wrapped and marks the request;
 * - mapping and the authorizer: caught in the handler;
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
  const internalDeny = decisionToCheckResponse(
    deny('GH_ERR_INTERNAL', 'the check failed internally', { realm: INTERNAL_DENY_REALM }),
  );
  const internalDenyBytes = check.responseSerialize(internalDeny);

  // Requests the decoder could not decode, with why. The handler only sees the request
  // object, so the mark travels with it.
  const undecodable = new WeakMap<object, Error>();

  const failed = (stage: 'decode' | 'check' | 'encode', error: unknown): void => {
    logger.error({ err: error, code: 'GH_ERR_INTERNAL', stage }, LOG.checkFailed);
  };

  const answer = async (request: CheckRequestMessage): Promise<CheckResponseMessage> => {
    try {
      const decodeError = undecodable.get(request);
      if (decodeError !== undefined) {
        failed('decode', decodeError);
        return internalDeny;
      }
      const decision = await authorizer.check(checkRequestToInput(request));
      return decisionToCheckResponse(decision);
    } catch (error) {
      failed('check', error);
      return internalDeny;
    }
  };

  const definition: AuthorizationServiceDefinition = {
    Check: {
      ...check,
      requestDeserialize: (bytes) => {
        try {
          if (bytes.length > maxRequestBytes) {
            throw new Error(
              `CheckRequest of ${bytes.length} bytes exceeds the limit of ${maxRequestBytes}`,
            );
          }
          return check.requestDeserialize(bytes);
        } catch (error) {
          const marked = {};
          undecodable.set(marked, error instanceof Error ? error : new Error(String(error)));
          return marked;
        }
      },
      responseSerialize: (response) => {
        try {
          return check.responseSerialize(response);
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
