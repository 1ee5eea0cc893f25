import type { HostBuiltin } from '../opa-wasm-abi.js';
import { cryptoBuiltins } from './crypto.js';
import { DecisionClock } from './decision-clock.js';
import { encodingBuiltins } from './encoding.js';
import { jwtBuiltins } from './jwt.js';
import { timeBuiltins } from './time.js';

/**
 * The builtins Gatehouse gives a policy module on top of those OPA compiles into it: what
 * OPA-Envoy policies commonly call (io.jwt.*, crypto.*, time.now_ns, sprintf, ...).
 * A module that needs one missing here is refused when the snapshot is built (see
 * OpaWasmInstance.load), never at request time.
 */
export interface HostBuiltinSet {
  readonly builtins: ReadonlyMap<string, HostBuiltin>;
  /** Refused on purpose, with the reason the build error gives. */
  readonly refused: ReadonlyMap<string, string>;
  /** The clock `time.now_ns` and decode_verify read; fixed per decision by the evaluator. */
  readonly clock: DecisionClock;
}

const NO_NETWORK = 'no network calls on the check path; fetch what the policy needs into data';

/** Builtins that would reach the network or the host from inside a decision. */
const REFUSED_BUILTINS: ReadonlyMap<string, string> = new Map([
  ['http.send', NO_NETWORK],
  ['net.lookup_ip_addr', NO_NETWORK],
  ['providers.aws.sign_req', 'signing outbound requests is not an authorizer’s job'],
]);

export function hostBuiltins(): HostBuiltinSet {
  const clock = new DecisionClock();
  return {
    builtins: new Map([
      ...jwtBuiltins(clock),
      ...cryptoBuiltins(),
      ...timeBuiltins(clock),
      ...encodingBuiltins(),
    ]),
    refused: REFUSED_BUILTINS,
    clock,
  };
}
