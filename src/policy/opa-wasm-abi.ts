import { GatehouseError } from '../errors/gatehouse-error.js';

/**
 * A host for OPA's WebAssembly ABI (version 1.x, https://www.openpolicyagent.org/docs/wasm):
 * instantiates a module built by `opa build -t wasm`, loads `data`, and evaluates
 * entrypoints. Written for Gatehouse instead of using @open-policy-agent/opa-wasm because
 * the SDK cannot do two things drop-in OPA-Envoy policies need:
 *
 * - A host builtin cannot be undefined. OPA evaluates a builtin error as undefined (the
 *   expression fails, the rule does not match) unless strict builtin errors are on; the
 *   ABI says so by a builtin returning address 0. The SDK always serializes the result, so
 *   `io.jwt.decode("garbage")` would abort the whole evaluation instead.
 * - The builtins a module imports cannot be listed before it runs, so a missing one would
 *   only show up as a per-request error. Here they are known at load time (`builtins()`).
 *
 * Values cross the boundary as JSON text: `opa_json_parse` in, `opa_json_dump` out.
 * Evaluation is synchronous; one instance serves one event loop.
 */

/** A value returned to the policy verbatim as JSON text (exact big numbers, e.g. ns times). */
export class JsonText {
  constructor(readonly text: string) {}
}

/**
 * A host builtin: JSON-shaped arguments in, a JSON-shaped result (or JsonText) out.
 * `undefined` (returned or thrown) makes the call undefined in Rego, as OPA does with
 * builtin errors by default.
 */
export type HostBuiltin = (...args: unknown[]) => unknown;

/** Thrown at load time: the module needs builtins the host does not provide. */
export class MissingBuiltinsError extends GatehouseError<'GH_POLICY_BUILTINS_MISSING'> {
  override readonly name = 'MissingBuiltinsError';
  constructor(
    readonly missing: readonly string[],
    detail: string,
  ) {
    super('GH_POLICY_BUILTINS_MISSING', detail);
  }
}

/**
 * The parts of the WebAssembly JS API used here. The project's TypeScript libs (ES2022 and
 * @types/node 20) do not declare them, so they are typed locally.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmGlobal {
  readonly value: unknown;
}
interface WasmApi {
  readonly Memory: new (descriptor: { initial: number }) => WasmMemory;
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<{ readonly exports: object }>;
}
const wasmApi = (globalThis as unknown as { readonly WebAssembly: WasmApi }).WebAssembly;

/** The module's exports this host calls (OPA WebAssembly ABI 1.2). */
interface AbiExports {
  opa_malloc(size: number): number;
  opa_json_parse(address: number, length: number): number;
  opa_json_dump(value: number): number;
  opa_heap_ptr_get(): number;
  opa_heap_ptr_set(address: number): void;
  builtins(): number;
  entrypoints(): number;
  // The evaluation context (ABI 1.0): one parsed input, evaluated by several entrypoints.
  opa_eval_ctx_new(): number;
  opa_eval_ctx_set_input(ctx: number, value: number): void;
  opa_eval_ctx_set_data(ctx: number, value: number): void;
  opa_eval_ctx_set_entrypoint(ctx: number, entrypoint: number): void;
  opa_eval_ctx_get_result(ctx: number): number;
  eval(ctx: number): number;
  opa_eval(
    reserved: number,
    entrypoint: number,
    data: number,
    input: number,
    inputLength: number,
    heap: number,
    format: number,
  ): number;
  readonly opa_wasm_abi_version?: WasmGlobal | number;
  readonly opa_wasm_abi_minor_version?: WasmGlobal | number;
}

const PAGE_BYTES = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface LoadOptions {
  /** Builtins the host implements, by Rego name. */
  readonly builtins: ReadonlyMap<string, HostBuiltin>;
  /** Builtins refused on purpose, with the reason (e.g. http.send: no network). */
  readonly refused?: ReadonlyMap<string, string>;
  /** Where `print()` output goes (OPA prints to stderr by default). */
  readonly onPrint?: (message: string) => void;
  /** Told about each builtin call that ended undefined because it threw. */
  readonly onBuiltinError?: (name: string, error: unknown) => void;
}

/**
 * An input document parsed into one instance's heap, for several entrypoints to evaluate
 * (see `parseInput`). Valid until the instance parses another input, runs `evaluate` or
 * loads data: each of those reuses the heap it sits in.
 */
export interface ParsedInput {
  readonly address: number;
  readonly heapTop: number;
  readonly generation: number;
}

export class OpaWasmInstance {
  private dataAddress = 0;
  private dataHeapTop = 0;
  /** Bumped whenever the heap above `data` is reused: a ParsedInput from before is stale. */
  private generation = 0;

  private constructor(
    private readonly exports: AbiExports,
    private readonly memory: WasmMemory,
    private readonly baseHeapTop: number,
    /** Entrypoint name -> id. */
    readonly entrypoints: ReadonlyMap<string, number>,
    /** Every builtin the module imports from the host, by name. */
    readonly requiredBuiltins: readonly string[],
  ) {}

  /**
   * Compiles and instantiates `wasm`. Throws MissingBuiltinsError when the module imports
   * a builtin that is refused or not provided, naming each: a policy that would fail on
   * some request is refused before it can serve any.
   */
  static async load(wasm: Uint8Array, options: LoadOptions): Promise<OpaWasmInstance> {
    const module = await wasmApi.compile(wasm);
    const memory = new wasmApi.Memory({ initial: 5 });
    // Filled in once the instance exists: builtins are dispatched by the id the module's
    // builtins() map gives each name.
    const byId = new Map<number, { name: string; impl: HostBuiltin | undefined }>();
    const bound: { exports?: AbiExports } = {};
    const readString = (address: number): string => {
      const bytes = new Uint8Array(memory.buffer);
      let end = address;
      while (bytes[end] !== 0) end++;
      return decoder.decode(bytes.subarray(address, end));
    };
    const call = (id: number, ...argAddresses: number[]): number => {
      const entry = byId.get(id);
      const abi = bound.exports;
      if (entry?.impl === undefined || abi === undefined) {
        // Unreachable after load() succeeded: every required builtin was checked.
        throw new Error(`builtin ${entry?.name ?? `#${id}`} is not provided`);
      }
      const args = argAddresses.map(
        (address) => JSON.parse(readString(abi.opa_json_dump(address))) as unknown,
      );
      let result: unknown;
      try {
        result = entry.impl(...args);
      } catch (error) {
        options.onBuiltinError?.(entry.name, error);
        return 0;
      }
      if (result === undefined) return 0;
      return writeJson(
        abi,
        memory,
        result instanceof JsonText ? result.text : JSON.stringify(result),
      );
    };
    const instance = await wasmApi.instantiate(module, {
      env: {
        memory,
        opa_abort: (address: number) => {
          throw new Error(`policy aborted: ${readString(address)}`);
        },
        opa_println: (address: number) => {
          options.onPrint?.(readString(address));
        },
        // opa_builtinN(id, ctx, arg1..argN): the context is reserved; args are value addresses.
        opa_builtin0: (id: number) => call(id),
        opa_builtin1: (id: number, _ctx: number, a: number) => call(id, a),
        opa_builtin2: (id: number, _ctx: number, a: number, b: number) => call(id, a, b),
        opa_builtin3: (id: number, _ctx: number, a: number, b: number, c: number) =>
          call(id, a, b, c),
        opa_builtin4: (id: number, _ctx: number, a: number, b: number, c: number, d: number) =>
          call(id, a, b, c, d),
      },
    });
    const exports = instance.exports as unknown as AbiExports;
    bound.exports = exports;
    checkAbiVersion(exports);

    const required = JSON.parse(readString(exports.opa_json_dump(exports.builtins()))) as Record<
      string,
      number
    >;
    const missing: string[] = [];
    const reasons: string[] = [];
    for (const [name, id] of Object.entries(required)) {
      const refusal = options.refused?.get(name);
      const impl = refusal === undefined ? options.builtins.get(name) : undefined;
      byId.set(id, { name, impl });
      if (impl === undefined) {
        missing.push(name);
        reasons.push(refusal === undefined ? `${name} (not provided)` : `${name} (${refusal})`);
      }
    }
    if (missing.length > 0) {
      throw new MissingBuiltinsError(
        missing.sort(),
        `the policy uses built-in functions Gatehouse cannot evaluate: ${reasons.sort().join(', ')}`,
      );
    }
    const entrypoints = new Map(
      Object.entries(
        JSON.parse(readString(exports.opa_json_dump(exports.entrypoints()))) as Record<
          string,
          number
        >,
      ),
    );
    const host = new OpaWasmInstance(
      exports,
      memory,
      exports.opa_heap_ptr_get(),
      entrypoints,
      Object.keys(required).sort(),
    );
    host.setData({});
    return host;
  }

  /** Loads the `data` document every evaluation sees (replacing the previous one). */
  setData(data: unknown): void {
    this.generation++;
    this.exports.opa_heap_ptr_set(this.baseHeapTop);
    this.dataAddress = writeJson(this.exports, this.memory, JSON.stringify(data));
    this.dataHeapTop = this.exports.opa_heap_ptr_get();
  }

  /**
   * Evaluates one entrypoint on `input` (the input document's JSON text, UTF-8) and returns
   * the result set: `[]` when undefined, `[{ result }]` otherwise. Everything the
   * evaluation allocated is released by the next call (the heap restarts above `data`).
   */
  evaluate(entrypoint: number, input: Uint8Array): unknown {
    this.generation++;
    const inputAddress = this.dataHeapTop;
    const needed = inputAddress + input.byteLength - this.memory.buffer.byteLength;
    if (needed > 0) this.memory.grow(Math.ceil(needed / PAGE_BYTES));
    new Uint8Array(this.memory.buffer).set(input, inputAddress);
    // ABI 1.2 one-call evaluation; format 0 = JSON result text.
    const resultAddress = this.exports.opa_eval(
      0,
      entrypoint,
      this.dataAddress,
      inputAddress,
      input.byteLength,
      inputAddress + input.byteLength,
      0,
    );
    return this.readJson(resultAddress);
  }

  /**
   * Parses `input` (JSON text, UTF-8) into the heap above `data` once, so that several
   * entrypoints evaluate the same parsed value (`evaluateParsed`) instead of `opa_eval`
   * parsing the text again for each: a decision's policy levels share one input. The ABI's
   * evaluation context takes any value address as input (opa_eval_ctx_set_input), and an
   * evaluation does not change its input or data (the existing `data` is shared the same
   * way); each evaluation's own allocations start above the parsed input.
   */
  parseInput(input: Uint8Array): ParsedInput {
    this.generation++;
    this.exports.opa_heap_ptr_set(this.dataHeapTop);
    const textAddress = this.exports.opa_malloc(input.byteLength);
    // opa_malloc grows the memory when it must: take the buffer after it.
    new Uint8Array(this.memory.buffer).set(input, textAddress);
    const address = this.exports.opa_json_parse(textAddress, input.byteLength);
    if (address === 0) throw new Error('the policy module could not parse the input document');
    return { address, heapTop: this.exports.opa_heap_ptr_get(), generation: this.generation };
  }

  /**
   * Evaluates one entrypoint on an input from `parseInput`, as `evaluate` would on its text:
   * the result set, `[]` when undefined. Throws when the input is no longer in the heap.
   */
  evaluateParsed(entrypoint: number, input: ParsedInput): unknown {
    if (input.generation !== this.generation) {
      throw new Error('the parsed input was released (another evaluation reused the heap)');
    }
    const abi = this.exports;
    abi.opa_heap_ptr_set(input.heapTop);
    const ctx = abi.opa_eval_ctx_new();
    abi.opa_eval_ctx_set_input(ctx, input.address);
    abi.opa_eval_ctx_set_data(ctx, this.dataAddress);
    abi.opa_eval_ctx_set_entrypoint(ctx, entrypoint);
    // The return value is reserved (ABI docs: `eval`); a failing policy calls opa_abort.
    abi.eval(ctx);
    return this.readJson(abi.opa_json_dump(abi.opa_eval_ctx_get_result(ctx)));
  }

  private readJson(address: number): unknown {
    const bytes = new Uint8Array(this.memory.buffer);
    let end = address;
    while (bytes[end] !== 0) end++;
    return JSON.parse(decoder.decode(bytes.subarray(address, end))) as unknown;
  }
}

function writeJson(exports: AbiExports, memory: WasmMemory, text: string): number {
  const bytes = encoder.encode(text);
  const address = exports.opa_malloc(bytes.byteLength);
  new Uint8Array(memory.buffer).set(bytes, address);
  const parsed = exports.opa_json_parse(address, bytes.byteLength);
  if (parsed === 0) throw new Error('the policy module could not parse a JSON value');
  return parsed;
}

function checkAbiVersion(exports: AbiExports): void {
  const read = (value: WasmGlobal | number | undefined): number | undefined =>
    value === undefined ? undefined : typeof value === 'number' ? value : Number(value.value);
  const major = read(exports.opa_wasm_abi_version);
  const minor = read(exports.opa_wasm_abi_minor_version);
  // opa_eval (one-call evaluation) arrived in ABI 1.2 (OPA v0.30).
  if (major !== 1 || minor === undefined || minor < 2) {
    throw new Error(
      `unsupported OPA WebAssembly ABI ${String(major)}.${String(minor)} (need 1.2 or later; rebuild with a current opa)`,
    );
  }
}
