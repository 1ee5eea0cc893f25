// The part of js-yaml 4 (https://github.com/nodeca/js-yaml#api) the catalog parser uses; the
// package ships no types of its own, and one function does not justify @types/js-yaml.
declare module 'js-yaml' {
  export interface Schema {
    readonly __brand: 'js-yaml schema';
  }
  /** YAML 1.2 core schema (null, booleans, integers, floats, strings): what `yaml` reads. */
  export const CORE_SCHEMA: Schema;
  export interface LoadOptions {
    readonly schema?: Schema;
    readonly filename?: string;
  }
  /** Parses one YAML document; throws YAMLException (duplicate keys included). */
  export function load(text: string, options?: LoadOptions): unknown;
}
