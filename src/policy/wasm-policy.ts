import { currentTimeNs } from './builtins/decision-clock.js';
import { hostBuiltins, type HostBuiltinSet } from './builtins/host-builtins.js';
import { OpaWasmInstance } from './opa-wasm-abi.js';

/**
 * One loaded WebAssembly policy module with its data, shared by every check that reads the
 * snapshot holding it. Evaluation is synchronous and single-threaded (a Node event loop),
 * so one instance serves all requests without locking; never one instance per request.
 */
export class WasmPolicy {
  private constructor(
    private readonly instance: OpaWasmInstance,
    private readonly host: HostBuiltinSet,
    readonly hash: string,
    /** The module and data as loaded: the primary hands them to its workers (src/workers). */
    readonly source: { readonly wasm: Uint8Array; readonly data: unknown },
  ) {}

  /**
   * Loads the module and its data. Throws (MissingBuiltinsError) when the module needs a
   * builtin Gatehouse refuses or lacks, naming it, so the snapshot is never activated.
   */
  static async load(wasm: Uint8Array, data: unknown, hash: string): Promise<WasmPolicy> {
    const host = hostBuiltins();
    const instance = await OpaWasmInstance.load(wasm, {
      builtins: host.builtins,
      refused: host.refused,
    });
    instance.setData(isRecord(data) ? data : {});
    return new WasmPolicy(instance, host, hash, { wasm, data });
  }

  /** The builtins the module takes from the host (for validate and status). */
  get hostBuiltinsUsed(): readonly string[] {
    return this.instance.requiredBuiltins;
  }

  hasEntrypoint(entrypoint: string): boolean {
    return this.instance.entrypoints.has(entrypoint);
  }

  /** The time one decision's evaluations share (see DecisionClock). */
  static decisionTime(): bigint {
    return currentTimeNs();
  }

  /**
   * Evaluates one entrypoint. `input` is the JSON text of the input document, encoded once
   * per check and shared by every level; `nowNs` is the decision's time, the same for
   * every level. Throws an Error on evaluation failure.
   */
  evaluate(entrypoint: string, input: Uint8Array, nowNs: bigint = currentTimeNs()): unknown {
    const id = this.instance.entrypoints.get(entrypoint);
    if (id === undefined) throw new Error(`entrypoint ${entrypoint} is not in the policy module`);
    return this.host.clock.during(nowNs, () => this.instance.evaluate(id, input));
  }

  /**
   * One decision's input, parsed once for every entrypoint it is evaluated by (a check's
   * policy levels): `evaluate` on the result answers as `evaluate` above would on `input`.
   * Use it synchronously, before anything else evaluates on this policy. Throws an Error
   * when the module cannot parse the input.
   */
  prepare(input: Uint8Array, nowNs: bigint = currentTimeNs()): PreparedInput {
    const parsed = this.instance.parseInput(input);
    return {
      evaluate: (entrypoint: string): unknown => {
        const id = this.instance.entrypoints.get(entrypoint);
        if (id === undefined) {
          throw new Error(`entrypoint ${entrypoint} is not in the policy module`);
        }
        return this.host.clock.during(nowNs, () => this.instance.evaluateParsed(id, parsed));
      },
    };
  }
}

/** An input parsed into a policy's heap, for several entrypoints (WasmPolicy.prepare). */
export interface PreparedInput {
  evaluate(entrypoint: string): unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
