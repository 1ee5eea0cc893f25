import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';

/**
 * One loaded WebAssembly policy module with its data, shared by every check that reads the
 * snapshot holding it. Evaluation is synchronous and single-threaded (a Node event loop),
 * so one instance serves all requests without locking; never one instance per request.
 */
export class WasmPolicy {
  private constructor(
    private readonly policy: LoadedPolicy,
    readonly hash: string,
    private readonly entrypointIds: ReadonlyMap<string, number>,
  ) {}

  static async load(wasm: Buffer, data: unknown, hash: string): Promise<WasmPolicy> {
    const policy = await loadPolicy(wasm);
    policy.setData(isRecord(data) ? data : {});
    const ids = new Map<string, number>();
    const entrypoints: unknown = policy.entrypoints;
    if (isRecord(entrypoints)) {
      for (const [name, id] of Object.entries(entrypoints)) {
        if (typeof id === 'number') ids.set(name, id);
      }
    }
    return new WasmPolicy(policy, hash, ids);
  }

  hasEntrypoint(entrypoint: string): boolean {
    return this.entrypointIds.has(entrypoint);
  }

  /**
   * Evaluates one entrypoint. `input` is the JSON text of the input document, encoded once
   * per check and shared by every level. Throws an Error on evaluation failure (opa-wasm
   * throws strings too; they are wrapped here).
   */
  evaluate(entrypoint: string, input: ArrayBuffer): unknown {
    const id = this.entrypointIds.get(entrypoint);
    if (id === undefined) throw new Error(`entrypoint ${entrypoint} is not in the policy module`);
    try {
      return this.policy.evaluate(input, id) as unknown;
    } catch (error) {
      throw error instanceof Error ? error : new Error(String(error));
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
