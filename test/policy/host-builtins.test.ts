import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, importPKCS8, SignJWT, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileWasm, type RegoFile } from '../../src/policy/compile-wasm.js';
import { MissingBuiltinsError } from '../../src/policy/opa-wasm-abi.js';
import { findOpa, type OpaBinary } from '../../src/policy/opa-binary.js';
import { WasmPolicy } from '../../src/policy/wasm-policy.js';
import { opaEval } from '../helpers/opa-eval.js';
import { createTestPki, type TestPki } from '../net/oauth/certificates.js';

// The builtins Gatehouse provides to WebAssembly policies, proven against the reference:
// the same Rego and the same input through the real `opa eval` (OPA's Go evaluator) and
// through `opa build -t wasm` + Gatehouse's host. Every rule must be equal, including
// which ones are undefined (OPA turns a builtin error into undefined).

const POLICY = `package t

import rego.v1

# --- io.jwt.verify_* -----------------------------------------------------------------
rs256_pem := io.jwt.verify_rs256(input.rs, input.rsa_pem)
rs256_other_key := io.jwt.verify_rs256(input.rs, input.other_pem)
rs256_jwks := io.jwt.verify_rs256(input.rs, input.jwks)
rs256_tampered := io.jwt.verify_rs256(input.rs_tampered, input.rsa_pem)
rs384 := io.jwt.verify_rs384(input.rs384, input.rsa_pem)
ps256 := io.jwt.verify_ps256(input.ps, input.rsa_pem)
ps256_as_rs256 := io.jwt.verify_rs256(input.ps, input.rsa_pem)
es256_jwk := io.jwt.verify_es256(input.es, input.ec_jwk)
es256_cert := io.jwt.verify_es256(input.es_cert_token, input.cert_pem)
es256_wrong_cert := io.jwt.verify_es256(input.es, input.cert_pem)
eddsa := io.jwt.verify_eddsa(input.ed, input.ed_pem)
hs256 := io.jwt.verify_hs256(input.hs, "s3cret")
hs256_wrong := io.jwt.verify_hs256(input.hs, "guess")
hs512 := io.jwt.verify_hs512(input.hs512, "s3cret")
verify_garbage := io.jwt.verify_rs256("not.a.token!", input.rsa_pem)

# --- io.jwt.decode -----------------------------------------------------------------------
decoded := io.jwt.decode(input.rs)
decode_garbage := io.jwt.decode("garbage")
decode_two_parts := io.jwt.decode("eyJhbGciOiJub25lIn0.e30")

# --- io.jwt.decode_verify ------------------------------------------------------------------
dv_ok := io.jwt.decode_verify(input.rs, {"cert": input.rsa_pem, "aud": "api", "iss": "https://issuer.test", "time": input.now_ns})
dv_jwks := io.jwt.decode_verify(input.rs, {"cert": input.jwks, "aud": "api", "time": input.now_ns})
dv_expired := io.jwt.decode_verify(input.rs, {"cert": input.rsa_pem, "aud": "api", "time": input.later_ns})
dv_not_yet := io.jwt.decode_verify(input.rs, {"cert": input.rsa_pem, "aud": "api", "time": input.earlier_ns})
dv_wrong_aud := io.jwt.decode_verify(input.rs, {"cert": input.rsa_pem, "aud": "other", "time": input.now_ns})
dv_no_aud_constraint := io.jwt.decode_verify(input.rs, {"cert": input.rsa_pem, "time": input.now_ns})
dv_wrong_iss := io.jwt.decode_verify(input.rs, {"cert": input.rsa_pem, "aud": "api", "iss": "https://evil.test", "time": input.now_ns})
dv_alg_mismatch := io.jwt.decode_verify(input.rs, {"cert": input.rsa_pem, "aud": "api", "alg": "RS384", "time": input.now_ns})
dv_alg_match := io.jwt.decode_verify(input.rs, {"cert": input.rsa_pem, "aud": "api", "alg": "RS256", "time": input.now_ns})
dv_forged := io.jwt.decode_verify(input.rs, {"cert": input.other_pem, "aud": "api", "time": input.now_ns})
dv_unknown_constraint := io.jwt.decode_verify(input.rs, {"cert": input.rsa_pem, "aud": "api", "time": input.now_ns, "color": "red"})
dv_hs := io.jwt.decode_verify(input.hs, {"secret": "s3cret", "time": input.now_ns})
dv_hs_wrong := io.jwt.decode_verify(input.hs, {"secret": "guess", "time": input.now_ns})
dv_hs_with_cert := io.jwt.decode_verify(input.hs, {"cert": input.rsa_pem, "time": input.now_ns})
dv_es_cert := io.jwt.decode_verify(input.es_cert_token, {"cert": input.cert_pem, "time": input.now_ns})

# --- crypto ------------------------------------------------------------------------------
sha256 := crypto.sha256("abc")
sha1 := crypto.sha1("abc")
md5 := crypto.md5("abc")
hmac_sha256 := crypto.hmac.sha256("message", "key")
hmac_sha512 := crypto.hmac.sha512("message", "key")
hmac_equal := crypto.hmac.equal("abc", "abc")
hmac_not_equal := crypto.hmac.equal("abc", "abd")
cert := {"cn": c.Subject.CommonName, "issuer": c.Issuer.CommonName, "dns": c.DNSNames, "ips": c.IPAddresses, "not_after": c.NotAfter, "serial": c.SerialNumber, "ca": c.IsCA} if {
	c := crypto.x509.parse_certificates(input.cert_pem)[0]
}
cert_subject_org := crypto.x509.parse_certificates(input.client_pem)[0].Subject.Organization
cert_count := count(crypto.x509.parse_certificates(concat("\\n", [input.cert_pem, input.client_pem])))
cert_garbage := crypto.x509.parse_certificates("bm90IGEgY2VydA")

# --- time ------------------------------------------------------------------------------
rfc3339 := time.parse_rfc3339_ns("2026-12-01T10:00:00.123456789+02:00")
rfc3339_z := time.parse_rfc3339_ns("1999-12-31T23:59:59Z")
rfc3339_bad := time.parse_rfc3339_ns("yesterday")
duration := time.parse_duration_ns("1h30m")
duration_fraction := time.parse_duration_ns("1.5s")
duration_negative := time.parse_duration_ns("-300ms")

# --- strings and encodings ---------------------------------------------------------------
sprintf_mixed := sprintf("%s has %d items: %v", ["cart", 3, ["a", 1]])
sprintf_float := sprintf("%.2f|%v", [3.14159, 2.5])
sprintf_quote := sprintf("%q and %x", ["hi", 255])
sprintf_object := sprintf("%v", [{"a": "b"}])
urlquery_encode := urlquery.encode("a b&c=d/é")
urlquery_decode := urlquery.decode("a+b%26c")
urlquery_encode_object := urlquery.encode_object({"b": "2", "a": ["1", "x y"]})
urlquery_decode_object := urlquery.decode_object("a=1&a=2&b=x+y")
hex_encode := hex.encode("hi")
hex_decode := hex.decode("6869")
base64url_no_pad := base64url.encode_no_pad("hi?>")
strings_count := strings.count("cheese", "e")
index_of_n := indexof_n("dog cat dog", "dog")
prefix_match := strings.any_prefix_match("abc", ["x", "ab"])
suffix_match := strings.any_suffix_match(["abc", "xyz"], ["yz"])
yaml_unmarshal := yaml.unmarshal("a: [1, 2]\\nb: x")
yaml_valid := yaml.is_valid("a: 1")
regex_split := regex.split("[,;]", "a,b;c")
traced := trace("hello")
`;

const RULES = [...POLICY.matchAll(/^([a-z0-9_]+) :=/gm)].map((match) => match[1] ?? '');
const FILES: RegoFile[] = [{ path: 't.rego', content: POLICY }];

let opa: OpaBinary;
let pki: TestPki;
let policy: WasmPolicy;
let input: Record<string, unknown>;

function pem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

beforeAll(async () => {
  opa = await findOpa(undefined);
  pki = await createTestPki();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  const nowS = Math.floor(Date.now() / 1000);
  const claims: JWTPayload = {
    iss: 'https://issuer.test',
    aud: 'api',
    sub: 'alice',
    iat: nowS,
    nbf: nowS - 10,
    exp: nowS + 600,
  };
  const sign = (alg: string, key: KeyObject | Uint8Array, header: Record<string, unknown> = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg, ...header }).sign(key);
  const rs = await sign('RS256', rsa.privateKey, { kid: 'rsa-1' });
  const [head = '', body = '', signature = ''] = rs.split('.');
  const flipped = signature.startsWith('A') ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
  const certKey = await importPKCS8(pki.server.key, 'ES256');
  const hsClaims = { sub: 'bob', exp: nowS + 600 };
  const secret = new TextEncoder().encode('s3cret');
  input = {
    rs,
    rs_tampered: `${head}.${body}.${flipped}`,
    rs384: await sign('RS384', rsa.privateKey),
    ps: await sign('PS256', rsa.privateKey),
    es: await sign('ES256', ec.privateKey),
    es_cert_token: await new SignJWT(hsClaims).setProtectedHeader({ alg: 'ES256' }).sign(certKey),
    ed: await sign('EdDSA', ed.privateKey),
    hs: await new SignJWT(hsClaims).setProtectedHeader({ alg: 'HS256' }).sign(secret),
    hs512: await new SignJWT(hsClaims).setProtectedHeader({ alg: 'HS512' }).sign(secret),
    rsa_pem: pem(rsa.publicKey),
    other_pem: pem(other.publicKey),
    ed_pem: pem(ed.publicKey),
    ec_jwk: JSON.stringify(await exportJWK(ec.publicKey)),
    jwks: JSON.stringify({
      keys: [
        { ...(await exportJWK(other.publicKey)), kid: 'other' },
        { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1' },
      ],
    }),
    cert_pem: pki.server.cert,
    client_pem: pki.client.cert,
    now_ns: nowS * 1e9,
    later_ns: (nowS + 3600) * 1e9,
    earlier_ns: (nowS - 3600) * 1e9,
  };
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cache-'));
  const compiled = await compileWasm(
    FILES,
    RULES.map((rule) => `t/${rule}`),
    { opa, cacheDir, timeoutMs: 120_000 },
  );
  policy = await WasmPolicy.load(compiled.wasm, {}, compiled.hash);
}, 120_000);

describe('host builtins decide exactly as opa eval does', () => {
  let reference: Record<string, unknown>;
  beforeAll(async () => {
    reference = (await opaEval({ 't.rego': POLICY }, 'data.t', input)) as Record<string, unknown>;
  }, 60_000);

  it('the module needs host builtins (so this suite tests the host, not OPA natives)', () => {
    expect(policy.hostBuiltinsUsed).toEqual(
      expect.arrayContaining([
        'io.jwt.decode',
        'io.jwt.decode_verify',
        'io.jwt.verify_rs256',
        'io.jwt.verify_es256',
        'io.jwt.verify_eddsa',
        'io.jwt.verify_hs256',
        'crypto.sha256',
        'crypto.hmac.sha256',
        'crypto.x509.parse_certificates',
        'sprintf',
      ]),
    );
  });

  it.each(RULES)('%s', (rule) => {
    const bytes = new TextEncoder().encode(JSON.stringify(input));
    const resultSet = policy.evaluate(`t/${rule}`, bytes) as Array<{ result: unknown }>;
    const wasm = resultSet.length === 0 ? undefined : resultSet[0]?.result;
    expect(wasm).toEqual(reference[rule]);
  });

  it('the reference sees the cases this suite means (valid verifies, forged does not)', () => {
    expect(reference.rs256_pem).toBe(true);
    expect(reference.rs256_other_key).toBe(false);
    expect(reference.rs256_tampered).toBe(false);
    expect((reference.dv_ok as unknown[])[0]).toBe(true);
    expect(reference.dv_expired).toEqual([false, {}, {}]);
    expect(reference.dv_forged).toEqual([false, {}, {}]);
    expect(reference.decode_garbage).toBeUndefined();
    expect(reference).toHaveProperty('cert');
  });
});

describe('time.now_ns', () => {
  it('is the decision time, exact to the nanosecond, the same for every call in one decision', async () => {
    const cacheDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cache-'));
    const source =
      'package n\n\nimport rego.v1\n\na := time.now_ns()\n\nb := time.now_ns()\n\nnanos := time.now_ns() % 1000000000\n';
    const compiled = await compileWasm(
      [{ path: 'n.rego', content: source }],
      ['n/a', 'n/b', 'n/nanos'],
      {
        opa,
        cacheDir,
        timeoutMs: 60_000,
      },
    );
    const timed = await WasmPolicy.load(compiled.wasm, {}, compiled.hash);
    const now = 1_764_582_000_123_456_789n;
    const empty = new TextEncoder().encode('{}');
    // Exact inside the policy: 1764582000123456789 is not a double, so a float would show.
    expect(timed.evaluate('n/nanos', empty, now)).toEqual([{ result: 123_456_789 }]);
    expect(timed.evaluate('n/b', empty, now)).toEqual(timed.evaluate('n/a', empty, now));
    // Without a decision time: the clock, within a second of now.
    const live = timed.evaluate('n/a', empty) as Array<{ result: number }>;
    expect(Math.abs((live[0]?.result ?? 0) / 1e6 - Date.now())).toBeLessThan(1000);
  });
});

describe('activation-time builtin check', () => {
  it('a policy calling http.send is refused at load, naming it and why', async () => {
    const cacheDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cache-'));
    const source =
      'package h\n\nimport rego.v1\n\nallow if http.send({"method": "GET", "url": "http://x.test"}).status_code == 200\n';
    const compiled = await compileWasm([{ path: 'h.rego', content: source }], ['h/allow'], {
      opa,
      cacheDir,
      timeoutMs: 60_000,
    });
    const loading = WasmPolicy.load(compiled.wasm, {}, compiled.hash);
    await expect(loading).rejects.toBeInstanceOf(MissingBuiltinsError);
    await expect(loading).rejects.toThrow(/http\.send \(no network calls on the check path/);
  });

  it('a builtin Gatehouse does not provide is refused at load with its name', async () => {
    const cacheDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cache-'));
    const source = 'package g\n\nimport rego.v1\n\nallow if graphql.is_valid(input.q, input.s)\n';
    const compiled = await compileWasm([{ path: 'g.rego', content: source }], ['g/allow'], {
      opa,
      cacheDir,
      timeoutMs: 60_000,
    });
    await expect(WasmPolicy.load(compiled.wasm, {}, compiled.hash)).rejects.toThrow(
      /graphql\.is_valid \(not provided\)/,
    );
  });
});
