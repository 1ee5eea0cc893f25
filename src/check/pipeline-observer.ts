import type { ApiDefinition, PolicyLevel } from '../routes/catalog.js';
import type { AuthOutcome } from './authenticate.js';
import type { LevelsOutcome } from './evaluate-policies.js';

/**
 * Optional hooks into one check's steps, for `gatehouse explain`: which API matched, what
 * the authenticate step said, and each policy level's answer. The pipeline calls them and
 * ignores what they do; a running server sets none.
 */
export interface PipelineObserver {
  /** The route step: the matched API (undefined: none, allowUnknownApis on) and its parameters. */
  routed?(api: ApiDefinition | undefined, params: Readonly<Record<string, string>>): void;
  authenticated?(outcome: AuthOutcome): void;
  /** The levels asked, outermost first, and the outcome (verdicts[i] is levels[i]'s allow). */
  evaluated?(levels: readonly PolicyLevel[], outcome: LevelsOutcome): void;
}
