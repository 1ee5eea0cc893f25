import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  normalizeAuthority,
  normalizeHost,
  normalizeRequestAuthority,
} from '../../src/routes/normalize-authority.js';
import { RouteTable } from '../../src/routes/route-table.js';
import {
  anyValidAuthority,
  hostSpelling,
  ipv4,
  ipv6Groups,
  ipv6Spelling,
  malformedHost,
  nameSpelling,
  port,
  regName,
  scheme,
} from './host-spellings.js';

function canonical(raw: string, schemeName = 'https'): string | undefined {
  const result = normalizeAuthority(raw, schemeName);
  return result.ok ? result.authority : undefined;
}

function reason(raw: string, schemeName = 'https'): string | undefined {
  const result = normalizeAuthority(raw, schemeName);
  return result.ok ? undefined : result.reason;
}

describe('normalizeAuthority: the one form a request host takes', () => {
  it.each<[string, string, string, string]>([
    ['lower-cases a name (RFC 9110 4.2.3)', 'API.Example.COM', 'https', 'api.example.com'],
    ['drops one trailing dot (RFC 1034 3.1)', 'api.example.com.', 'https', 'api.example.com'],
    ['drops the https default port', 'api.example.com:443', 'https', 'api.example.com'],
    ['drops the http default port', 'api.example.com:80', 'HTTP', 'api.example.com'],
    ['keeps a port that is not the default', 'api.example.com:443', 'http', 'api.example.com:443'],
    ['keeps any port for an unknown scheme', 'api.example.com:443', '', 'api.example.com:443'],
    ['trailing dot and default port together', 'Api.Example.Com.:443', 'https', 'api.example.com'],
    ['accepts "_" in labels (service names)', 'orders_v2.internal', 'http', 'orders_v2.internal'],
    ['accepts a single label', 'localhost:8080', 'http', 'localhost:8080'],
    ['accepts IPv4', '192.0.2.10:8443', 'https', '192.0.2.10:8443'],
    ['accepts IPv4 with a trailing dot', '192.0.2.10.', 'https', '192.0.2.10'],
    ['compresses IPv6 (RFC 5952 4.2)', '[2001:DB8:0:0:0:0:0:1]', 'https', '[2001:db8::1]'],
    ['IPv6 with a port', '[0:0::1]:8080', 'https', '[::1]:8080'],
    ['IPv6 default port', '[::1]:443', 'https', '[::1]'],
    [
      'IPv6: the first of equal zero runs (RFC 5952 4.2.3)',
      '[1:0:0:2:0:0:3:4]',
      'https',
      '[1::2:0:0:3:4]',
    ],
    [
      'IPv6: a lone zero group stays (RFC 5952 4.2.2)',
      '[1:0:2:3:4:5:6:7]',
      'https',
      '[1:0:2:3:4:5:6:7]',
    ],
    [
      'IPv4-mapped IPv6 stays dotted (RFC 5952 5)',
      '[::FFFF:192.0.2.1]',
      'https',
      '[::ffff:192.0.2.1]',
    ],
    ['the highest port', 'a.example:65535', 'https', 'a.example:65535'],
  ])('%s', (_name, raw, schemeName, expected) => {
    expect(canonical(raw, schemeName)).toBe(expected);
  });

  it.each<[string, string, string]>([
    ['an empty host (RFC 9112 3.2: 400)', '', 'empty host'],
    ['two Host headers joined with ","', 'api.example.com,evil.example', 'several hosts'],
    ['userinfo', 'user@api.example.com', 'userinfo'],
    ['surrounding whitespace', ' api.example.com', 'whitespace'],
    ['a path', 'api.example.com/admin', 'path, query or fragment'],
    ['a query', 'api.example.com?x', 'path, query or fragment'],
    ['a fragment', 'api.example.com#x', 'path, query or fragment'],
    ['a backslash', 'api.example.com\\x', 'path, query or fragment'],
    ['percent-encoding', 'api%2Eexample.com', 'percent-encoding'],
    ['an empty port', 'api.example.com:', 'invalid port'],
    ['port 0', 'api.example.com:0', 'invalid port'],
    ['a port over 65535', 'api.example.com:65536', 'invalid port'],
    ['a port with a leading zero', 'api.example.com:0443', 'invalid port'],
    ['two ports', 'api.example.com:443:443', 'several colons'],
    ['unbracketed IPv6', '2001:db8::1', 'several colons'],
    ['an empty label', 'api..example.com', 'empty label'],
    ['a leading dot', '.api.example.com', 'empty label'],
    ['two trailing dots', 'api.example.com..', 'empty label'],
    ['non-ASCII', 'bücher.example', 'character not allowed'],
    ['a Kelvin sign that lower-cases to "k"', '\u212aey.example', 'character not allowed'],
    ['a label over 63 characters', `${'a'.repeat(64)}.example`, 'label longer'],
    ['a short IPv4 form (inet_aton)', '127.1', 'not a dotted-decimal IPv4'],
    ['a hexadecimal IPv4 form', '0x7f.0.0.1', 'not a dotted-decimal IPv4'],
    ['an IPv4 octet with a leading zero', '010.0.0.1', 'not a dotted-decimal IPv4'],
    ['an IPv4 octet over 255', '256.0.0.1', 'not a dotted-decimal IPv4'],
    ['an IPv6 zone (RFC 6874)', '[fe80::1%25eth0]', 'percent-encoding'],
    ['IPvFuture', '[v1.fe]', 'IPvFuture'],
    ['an invalid IPv6 literal', '[1::2::3]', 'invalid IPv6'],
    ['text after the IPv6 literal', '[::1]x', 'after the IPv6 literal'],
    ['an unterminated IPv6 literal', '[::1', 'unterminated'],
    ['a wildcard', '*.example.com', 'character not allowed'],
    ['an over-long value', 'a'.repeat(301), 'longer than 300'],
  ])('refuses %s', (_name, raw, why) => {
    expect(reason(raw)).toContain(why);
  });

  it('normalizeHost refuses a port: catalog hosts never carry one', () => {
    expect(normalizeHost('api.example.com:443').ok).toBe(false);
    expect(normalizeHost('[::1]:443').ok).toBe(false);
  });
});

describe('normalizeRequestAuthority: a request that names its host twice', () => {
  it('accepts the same authority, in any spelling', () => {
    const result = normalizeRequestAuthority(
      'api.example.com',
      ['API.example.com:443', 'api.example.com.'],
      'https',
    );
    expect(result).toMatchObject({ ok: true, authority: 'api.example.com' });
  });

  it('refuses a :authority that names another host', () => {
    expect(normalizeRequestAuthority('api.example.com', ['evil.example'], 'https')).toEqual({
      ok: false,
      reason: 'the request names two different hosts',
    });
  });

  it('refuses another port', () => {
    const result = normalizeRequestAuthority('api.example.com', ['api.example.com:8443'], 'https');
    expect(result.ok).toBe(false);
  });

  it('refuses a second value that is malformed', () => {
    const result = normalizeRequestAuthority('api.example.com', ['a@api.example.com'], 'https');
    expect(result).toEqual({ ok: false, reason: 'second host value: userinfo in host' });
  });
});

// Property tests. The generators are in host-spellings.ts.
describe('normalizeAuthority properties', () => {
  it('is idempotent: normalizing the normal form changes nothing', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyValidAuthority,
          fc.record({ raw: fc.string({ maxLength: 40 }), scheme }),
          fc.record({ raw: malformedHost, scheme }),
        ),
        ({ raw, scheme: schemeName }) => {
          const once = normalizeAuthority(raw, schemeName);
          if (!once.ok) return;
          expect(normalizeAuthority(once.authority, schemeName)).toEqual(once);
          expect(normalizeHost(once.host)).toEqual({ ok: true, host: once.host, kind: once.kind });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('accepts every valid spelling', () => {
    fc.assert(
      fc.property(anyValidAuthority, ({ raw, scheme: schemeName }) => {
        expect(normalizeAuthority(raw, schemeName).ok).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses every malformed or ambiguous host it is given', () => {
    fc.assert(
      fc.property(malformedHost, scheme, (raw, schemeName) => {
        const result = normalizeAuthority(raw, schemeName);
        expect(result.ok, `accepted ${JSON.stringify(raw)}`).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws, whatever the string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), scheme, (raw, schemeName) => {
        normalizeAuthority(raw, schemeName);
        normalizeHost(raw);
      }),
      { numRuns: 2000 },
    );
  });
});

/**
 * "Decides the same", shown on a real route table: the catalog spells the host one way,
 * the request another; both must reach the host's route, never the any-host one.
 */
describe('every spelling of one host reaches the same route', () => {
  const table = (catalogHost: string): RouteTable<string> =>
    RouteTable.build([
      { value: 'host-route', template: '/x', methods: ['GET'], hosts: [catalogHost] },
      { value: 'any-host-route', template: '/x', methods: ['GET'], hosts: [] },
    ]);

  it('names and IPv4: case, trailing dot, default port', () => {
    const cases = fc.oneof(regName, ipv4).chain((host) =>
      fc.tuple(scheme, fc.option(port, { nil: undefined })).chain(([schemeName, portNumber]) =>
        fc.record({
          host: fc.constant(host),
          scheme: fc.constant(schemeName),
          port: fc.constant(portNumber),
          catalog: hostSpelling(host),
          requests: fc.array(nameSpelling(host, schemeName, portNumber), {
            minLength: 1,
            maxLength: 5,
          }),
        }),
      ),
    );
    fc.assert(
      fc.property(cases, (c) => {
        const routes = table(c.catalog);
        for (const spelling of c.requests) {
          const authority = normalizeAuthority(spelling, c.scheme);
          if (!authority.ok) throw new Error(`${spelling}: ${authority.reason}`);
          expect(authority.host).toBe(c.host);
          expect(authority.authority).toBe(c.port === undefined ? c.host : `${c.host}:${c.port}`);
          expect(routes.match(authority.host, 'GET', ['x'])?.value).toBe('host-route');
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('IPv6: any compression, case and zero padding', () => {
    fc.assert(
      fc.property(
        ipv6Groups.chain((groups) => fc.tuple(ipv6Spelling(groups), ipv6Spelling(groups), scheme)),
        ([catalogSpelling, requestSpelling, schemeName]) => {
          const routes = table(catalogSpelling);
          const fromCatalog = normalizeHost(catalogSpelling);
          const authority = normalizeAuthority(requestSpelling, schemeName);
          if (!authority.ok || !fromCatalog.ok) throw new Error(`refused ${requestSpelling}`);
          expect(authority.host).toBe(fromCatalog.host);
          expect(routes.match(authority.host, 'GET', ['x'])?.value).toBe('host-route');
        },
      ),
      { numRuns: 1000 },
    );
  });
});
