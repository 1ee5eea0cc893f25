import { WasmPolicy, type PreparedInput } from '../policy/wasm-policy.js';
import { parsePolicyResult, type PolicyVerdict } from '../policy/policy-result.js';
import type { PolicyLevel } from '../routes/catalog.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import type { DenyCode } from '../decision/deny-codes.js';

export type LevelsOutcome =
  | { readonly ok: true; readonly verdicts: readonly PolicyVerdict[] }
  | {
      readonly ok: false;
      readonly code: DenyCode;
      readonly reason: string;
      /** The denying level's verdict when it said no (for its status, headers and body). */
      readonly verdict: PolicyVerdict | undefined;
      /** Which of the levels did not allow (the ones before it did; the ones after were not asked). */
      readonly levelIndex: number;
    };

/**
 * Evaluates the levels outermost first (global -> service -> API). Every level must allow;
 * the first that does not ends the evaluation and names itself. An evaluation error or a
 * malformed result is a deny too, never a skip.
 */
export function evaluateLevels(
  snapshot: Snapshot,
  levels: readonly PolicyLevel[],
  input: ArrayBuffer,
): LevelsOutcome {
  const verdicts: PolicyVerdict[] = [];
  const bytes = new Uint8Array(input);
  // One decision, one `now`: time.now_ns() answers the same in every level (as OPA does
  // within one query).
  const nowNs = WasmPolicy.decisionTime();
  // Parsed once, on the first level that is asked, and evaluated by every level after it.
  let prepared: PreparedInput | undefined;
  for (const level of levels) {
    const entrypoint = snapshot.entrypoints.get(level.package);
    if (entrypoint === undefined) {
      return {
        ok: false,
        levelIndex: verdicts.length,
        code: 'GH_ERR_POLICY_ERROR',
        reason: `${level.level} policy ${level.package} is not in the snapshot`,
        verdict: undefined,
      };
    }
    let resultSet: unknown;
    try {
      prepared ??= snapshot.policy.prepare(bytes, nowNs);
      resultSet = prepared.evaluate(entrypoint);
    } catch (error) {
      return {
        ok: false,
        levelIndex: verdicts.length,
        code: 'GH_ERR_POLICY_ERROR',
        reason: `${level.level} policy ${level.package} failed: ${error instanceof Error ? error.message : String(error)}`,
        verdict: undefined,
      };
    }
    const parsed = parsePolicyResult(resultSet);
    if (!parsed.ok) {
      return {
        ok: false,
        levelIndex: verdicts.length,
        code: 'GH_ERR_POLICY_RESULT_INVALID',
        reason: `${level.level} policy ${level.package}: ${parsed.reason}`,
        verdict: undefined,
      };
    }
    if (!parsed.verdict.allowed) {
      return {
        ok: false,
        levelIndex: verdicts.length,
        code: 'GH_ERR_POLICY_DENIED',
        reason: `denied by ${level.level} policy ${level.package}`,
        verdict: parsed.verdict,
      };
    }
    verdicts.push(parsed.verdict);
  }
  return { ok: true, verdicts };
}
