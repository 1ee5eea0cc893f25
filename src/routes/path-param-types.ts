import { z } from 'zod';

/**
 * The type of one path parameter, as an OpenAPI document (or the catalog) declares it:
 * checked at route match, so `/orders/abc` on an integer `{id}` matches no route. Path
 * parameters use OpenAPI's `simple` style (OpenAPI 3.1 section 4.8.12.4.2), so a
 * segment is the value's plain text: `42`, `true`, a UUID.
 *
 * Only what can be checked in constant or linear time per segment is kept: the type, the
 * `uuid`/`int32`/`int64` formats, `enum`, a length range and a `pattern`.
 */
export const pathParamTypeSchema = z.strictObject({
  type: z.enum(['string', 'integer', 'number', 'boolean']),
  format: z.enum(['uuid', 'int32', 'int64']).optional(),
  /** The allowed values, compared as their `simple`-style text (`5`, `true`, `open`). */
  enum: z
    .array(z.union([z.string(), z.number(), z.boolean()]))
    .min(1)
    .optional(),
  minLength: z.number().int().nonnegative().optional(),
  maxLength: z.number().int().nonnegative().optional(),
  /**
   * An ECMAScript regular expression, unanchored as in JSON Schema (2020-12 validation
   * section 6.3.3). It runs on the check path against client-chosen text: keep it linear.
   */
  pattern: z.string().optional(),
});

export type PathParamType = z.infer<typeof pathParamTypeSchema>;

/** A decoded path segment -> whether it is a value of the type. */
export type PathParamCheck = (segment: string) => boolean;

const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;
// JSON's number grammar (RFC 8259 section 6), the text a number is serialized as.
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
// RFC 9562 section 4: 8-4-4-4-12 hex digits, either case.
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const INT32 = [-(2n ** 31n), 2n ** 31n - 1n] as const;
const INT64 = [-(2n ** 63n), 2n ** 63n - 1n] as const;

/**
 * Compiles a type into one predicate, built once per snapshot; undefined when every
 * segment is a value of it (a plain string). Throws on a pattern that is not a valid
 * regular expression.
 */
export function compilePathParamCheck(type: PathParamType): PathParamCheck | undefined {
  const checks: PathParamCheck[] = [];
  if (type.enum !== undefined) {
    const allowed = new Set(type.enum.map(String));
    checks.push((s) => allowed.has(s));
  }
  switch (type.type) {
    case 'integer': {
      const range = type.format === 'int32' ? INT32 : type.format === 'int64' ? INT64 : undefined;
      checks.push(
        range === undefined
          ? (s) => INTEGER.test(s)
          : (s) => INTEGER.test(s) && s.length <= 20 && inRange(BigInt(s), range),
      );
      break;
    }
    case 'number':
      checks.push((s) => NUMBER.test(s));
      break;
    case 'boolean':
      checks.push((s) => s === 'true' || s === 'false');
      break;
    case 'string':
      if (type.format === 'uuid') checks.push((s) => UUID.test(s));
      break;
  }
  const { minLength, maxLength } = type;
  // JSON Schema counts length in code points (2020-12 validation section 6.3.1).
  if (minLength !== undefined || maxLength !== undefined) {
    checks.push((s) => {
      // eslint-disable-next-line @typescript-eslint/no-misused-spread -- code points are what JSON Schema counts
      const length = [...s].length;
      return length >= (minLength ?? 0) && length <= (maxLength ?? Infinity);
    });
  }
  if (type.pattern !== undefined) {
    const pattern = new RegExp(type.pattern, 'u');
    checks.push((s) => pattern.test(s));
  }
  if (checks.length <= 1) return checks[0];
  return (s) => checks.every((check) => check(s));
}

function inRange(value: bigint, [min, max]: readonly [bigint, bigint]): boolean {
  return value >= min && value <= max;
}
