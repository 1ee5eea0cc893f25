/**
 * Mask rules in OPA's decision-log form (OPA docs, "Decision Logs", "Masking Sensitive
 * Data"): a rule is a JSON Pointer (RFC 6901) into the event, `/input/...` or
 * `/result/...`, either erased (`remove`, the default) or replaced (`upsert` with a value).
 * The paths that were acted on are listed in the event's `erased` and `masked` fields, as
 * OPA does, so an auditor can see that something was taken out.
 */
export type MaskRule =
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'upsert'; readonly path: string; readonly value: unknown };

export interface MaskOutcome {
  readonly erased: string[];
  readonly masked: string[];
}

/** Splits a JSON Pointer into its reference tokens (RFC 6901 section 4: ~1 is /, ~0 is ~). */
export function pointerTokens(pointer: string): string[] {
  if (!pointer.startsWith('/')) throw new Error(`mask path must start with "/": ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Applies the rules to `event` in place (the event is the logger's own copy). A path whose
 * parent does not exist is skipped, as in OPA; `upsert` sets the leaf when the parent is an
 * object. Header names are lower-case in the input, so rules should name them so.
 */
export function applyMasks(event: Json, rules: readonly MaskRule[]): MaskOutcome {
  const erased: string[] = [];
  const masked: string[] = [];
  for (const rule of rules) {
    const tokens = pointerTokens(rule.path);
    const leaf = tokens.pop();
    if (leaf === undefined || leaf === '') continue;
    let parent: unknown = event;
    for (const token of tokens) {
      parent = isObject(parent) ? parent[token] : undefined;
      if (parent === undefined) break;
    }
    if (!isObject(parent)) continue;
    if (rule.op === 'remove') {
      if (!Object.hasOwn(parent, leaf)) continue;
      Reflect.deleteProperty(parent, leaf);
      erased.push(rule.path);
    } else {
      parent[leaf] = rule.value;
      masked.push(rule.path);
    }
  }
  return { erased, masked };
}
