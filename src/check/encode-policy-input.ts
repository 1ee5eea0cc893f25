import type { JWTPayload } from 'jose';
import type { ApiDefinition } from '../routes/catalog.js';
import type { PeerInfo } from './check-input.js';
import type { PolicyInputParts } from './policy-input.js';

/**
 * The policy input document (policy-input.ts) written straight to JSON text, once per
 * check, without building the object first: the check path's largest single cost was
 * building that object and `JSON.stringify`-ing it. The text parses to exactly what
 * `JSON.stringify(buildPolicyInput(parts))` parses to (test/check/encode-policy-input.test.ts
 * checks both on generated requests), with the same key order.
 *
 * Every string goes through `JSON.stringify`, so escaping is ECMA-262's: control characters
 * as `\uXXXX` or their short forms, and a lone surrogate as `\uD8xx` (well-formed
 * JSON.stringify, ES2019), never raw (RFC 8259 section 8.1 asks for UTF-8; a raw lone
 * surrogate has none).
 *
 * What does not change per check is written once and kept beside the object it came from:
 * an API's `id`/`service`/`path_template` prefix, and a verified token's claims (the same
 * object comes out of the verified-token cache for every check with that token; neither is
 * ever mutated after it is built).
 */

const VERSION = '"version":{"ext_authz":"v3","encoding":"protojson"}';

// TypeScript's lib types JSON.stringify as always returning a string; it returns undefined
// for undefined (ECMA-262 SerializeJSONProperty), which is how a member is left out.
const stringify = JSON.stringify as (value: unknown) => string | undefined;

const apiPrefixes = new WeakMap<ApiDefinition, string>();
const claimsText = new WeakMap<JWTPayload, string>();

export function encodePolicyInput(parts: PolicyInputParts): string {
  const { request, api } = parts;
  const http = object([
    member('id', request.requestId),
    member('method', request.method),
    member('path', request.path),
    member('host', request.host),
    member('scheme', request.scheme),
    member('protocol', request.protocol),
    headersMember(request.headers),
    request.body === '' ? '' : member('body', request.body),
  ]);
  const attributes = object([
    `"source":${peer(request.source)}`,
    `"destination":${peer(request.destination)}`,
    `"request":{"http":${http}}`,
    member('contextExtensions', request.contextExtensions),
  ]);
  const token = parts.claims === undefined ? 'null' : claims(parts.claims);
  const apiText = api === undefined ? 'null' : `${apiPrefix(api)}${json(parts.params)}}`;
  return (
    `{"attributes":${attributes},"parsed_path":${json(parts.segments)},` +
    `"parsed_query":${json(parts.query)},${VERSION},"token":${token},"api":${apiText}}`
  );
}

/** `"name":value`, or '' when JSON.stringify would leave the member out (undefined). */
function member(name: string, value: unknown): string {
  const text = stringify(value);
  return text === undefined ? '' : `"${name}":${text}`;
}

// What JSON.stringify escapes in a string (ECMA-262 QuoteJSONString): '"', '\\', control
// characters, and a lone surrogate; a string with none of these is written as it is. A
// surrogate pair also goes to JSON.stringify here (it writes the pair as is), to keep this
// test one character class.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const ESCAPED_IN_JSON = /["\\\u0000-\u001F\uD800-\uDFFF]/;

function quoted(text: string): string {
  return ESCAPED_IN_JSON.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * `JSON.stringify(headers)`, the same text: the headers hold the whole Authorization value
 * (~600 characters for a JWT), and Node 20's V8 escapes character by character, where one
 * regular-expression test over a string that needs no escaping costs about half. Keys in
 * `Object.keys` order, which is JSON.stringify's (EnumerableOwnProperties); a member whose
 * value JSON.stringify would leave out (undefined) is left out.
 */
function headersMember(headers: Readonly<Record<string, string>> | undefined): string {
  // As `member`: an adapter that sends no headers object gets no member, as JSON.stringify did.
  return headers === undefined ? '' : `"headers":${headersJson(headers)}`;
}

function headersJson(headers: Readonly<Record<string, string>>): string {
  let text = '';
  for (const name of Object.keys(headers)) {
    const value: unknown = headers[name];
    const valueText = typeof value === 'string' ? quoted(value) : stringify(value);
    if (valueText === undefined) continue;
    const entry = `${quoted(name)}:${valueText}`;
    text = text === '' ? entry : `${text},${entry}`;
  }
  return `{${text}}`;
}

/** An object from members, skipping the omitted ('') ones. */
function object(members: readonly string[]): string {
  let text = '';
  for (const entry of members) {
    if (entry === '') continue;
    text = text === '' ? entry : `${text},${entry}`;
  }
  return `{${text}}`;
}

/** JSON text of a value the document always has (records, arrays, numbers). */
function json(value: unknown): string {
  // JSON.stringify gives undefined only for undefined, functions and symbols, which the
  // original document would write as null inside an array and omit in an object; these
  // callers hold records and arrays, so this is a guard, not a case.
  return stringify(value) ?? 'null';
}

function claims(payload: JWTPayload): string {
  let text = claimsText.get(payload);
  if (text === undefined) {
    text = json(payload);
    claimsText.set(payload, text);
  }
  return text;
}

/** `{"id":…,"service":…,"path_template":…,"params":` of one API: closed by the caller. */
function apiPrefix(api: ApiDefinition): string {
  let text = apiPrefixes.get(api);
  if (text === undefined) {
    const members = object([
      member('id', api.id),
      member('service', api.service),
      member('path_template', api.pathTemplate),
    ]);
    // The object without its closing brace: `params` (per check) is the last member.
    text = `${members.slice(0, -1)}${members === '{}' ? '' : ','}"params":`;
    apiPrefixes.set(api, text);
  }
  return text;
}

/** Envoy's AttributeContext.Peer in protojson field names (policy-input.ts `peer`). */
function peer(info: PeerInfo): string {
  const hasAddress = info.address !== undefined && info.address !== '';
  return object([
    hasAddress
      ? `"address":{"socketAddress":{${member('address', info.address)},"portValue":${json(info.port ?? 0)}}}`
      : '',
    info.principal !== undefined && info.principal !== ''
      ? member('principal', info.principal)
      : '',
    info.certificate !== undefined && info.certificate !== ''
      ? member('certificate', info.certificate)
      : '',
  ]);
}
