import fc from 'fast-check';

/**
 * fast-check generators for request hosts: canonical authorities, other spellings of the
 * same authority, and malformed or ambiguous values. Shared by the normalizer's property
 * tests and the pipeline's.
 */

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const LABEL_CHARS = `${LOWER}0123456789-_`;

function fromChars(chars: string, minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc
    .array(fc.constantFrom(...chars.split('')), { minLength, maxLength })
    .map((list) => list.join(''));
}

/** A lower-case DNS-style name whose last label starts with a letter (so it is no IPv4). */
export const regName: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(fromChars(LABEL_CHARS, 1, 12), { minLength: 0, maxLength: 4 }),
    fc.constantFrom(...LOWER.split('')),
    fromChars(LABEL_CHARS, 0, 10),
  )
  .map(([labels, first, rest]) => [...labels, `${first}${rest}`].join('.'));

export const ipv4: fc.Arbitrary<string> = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
  .map((octets) => octets.join('.'));

/** Eight IPv6 groups, with zeros likely so that "::" compression has runs to choose from. */
export const ipv6Groups: fc.Arbitrary<number[]> = fc.array(
  fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
  { minLength: 8, maxLength: 8 },
);

/** One valid spelling of the IPv6 groups: any zero run may become "::", any case, padding. */
export function ipv6Spelling(groups: readonly number[]): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      fc.nat(),
    )
    .map(([pad, upper, pick]) => {
      const texts = groups.map((group, i) => {
        let text = group.toString(16);
        if (pad[i] === true) text = text.padStart(4, '0');
        return upper[i] === true ? text.toUpperCase() : text;
      });
      // Runs of zero groups, [start, end): each may be written "::" (RFC 4291 2.2).
      const runs: Array<[number, number]> = [];
      for (let i = 0; i < 8; i++) {
        if (groups[i] !== 0) continue;
        for (let end = i + 1; end <= 8 && groups[end - 1] === 0; end++) runs.push([i, end]);
      }
      const choice = runs.length === 0 ? undefined : pick % (runs.length + 1);
      const run = choice === undefined ? undefined : runs[choice];
      if (run === undefined) return `[${texts.join(':')}]`;
      return `[${texts.slice(0, run[0]).join(':')}::${texts.slice(run[1]).join(':')}]`;
    });
}

export const scheme = fc.constantFrom('http', 'https');

export const DEFAULT_PORT = { http: 80, https: 443 } as const;

/** Randomly upper-cases letters: hosts are case-insensitive (RFC 9110 4.2.3). */
export function anyCase(text: string): fc.Arbitrary<string> {
  return fc.array(fc.boolean(), { minLength: text.length, maxLength: text.length }).map((upper) =>
    text
      .split('')
      .map((ch, i) => (upper[i] === true ? ch.toUpperCase() : ch))
      .join(''),
  );
}

/** A spelling of `host` (reg-name or IPv4, canonical): any case, maybe one trailing dot. */
export function hostSpelling(host: string): fc.Arbitrary<string> {
  return fc.tuple(anyCase(host), fc.boolean()).map(([name, dot]) => (dot ? `${name}.` : name));
}

/**
 * A spelling of `host` (reg-name or IPv4, canonical) with `port`, or, when `port` is
 * undefined, with or without the scheme's default port written out.
 */
export function nameSpelling(
  host: string,
  schemeName: 'http' | 'https',
  port: number | undefined,
): fc.Arbitrary<string> {
  return fc.tuple(hostSpelling(host), fc.boolean()).map(([name, writeDefault]) => {
    if (port !== undefined) return `${name}:${port}`;
    return writeDefault ? `${name}:${DEFAULT_PORT[schemeName]}` : name;
  });
}

export const port = fc.integer({ min: 1, max: 65535 });

/** A valid authority of any kind, as some client might spell it. */
export const anyValidAuthority: fc.Arbitrary<{ raw: string; scheme: 'http' | 'https' }> = fc
  .tuple(
    fc.oneof(
      regName.map((h) => ({ kind: 'name' as const, h })),
      ipv4.map((h) => ({ kind: 'name' as const, h })),
      ipv6Groups.map((g) => ({ kind: 'v6' as const, g })),
    ),
    scheme,
    fc.option(port, { nil: undefined }),
  )
  .chain(([host, schemeName, portNumber]) => {
    const spelled =
      host.kind === 'name'
        ? nameSpelling(host.h, schemeName, portNumber)
        : ipv6Spelling(host.g).map((h) => (portNumber === undefined ? h : `${h}:${portNumber}`));
    return spelled.map((raw) => ({ raw, scheme: schemeName }));
  });

/**
 * Values that are not one clean authority, built around a valid host `h` so that a
 * router that guessed could well have read them as `h`.
 */
export function malformedAround(h: string): fc.Arbitrary<string> {
  return fc.oneof(
    // several values: two Host headers joined with "," (RFC 9110 5.3)
    regName.map((other) => `${h},${other}`),
    regName.map((other) => `${other}, ${h}`),
    fc.constant(`${h},${h}`),
    // userinfo
    regName.map((user) => `${user}@${h}`),
    fc.constant(`${h}@evil.example`),
    fc.constant(`:@${h}`),
    // whitespace and control characters
    fc.constantFrom(` ${h}`, `${h} `, `${h}\t`, `${h} x`, `${h}\r\n`, `${h}\u0000`, `\u000b${h}`),
    // path, query, fragment
    fc.constantFrom(`${h}/`, `${h}/admin`, `${h}?a=1`, `${h}#f`, `${h}\\x`, `//${h}`),
    // ports
    fc.constantFrom(`${h}:`, `${h}:0`, `${h}:65536`, `${h}:99999`, `${h}:0443`),
    fc.constantFrom(`${h}:8a`, `${h}:-1`, `${h}:+80`, `${h}:80:80`, `${h}: 80`),
    // empty labels, two trailing dots
    fc.constantFrom(`.${h}`, `${h}..`, `a..${h}`, `${h}..:443`),
    // percent-encoding, non-ASCII, look-alikes
    fc.constantFrom(`${h}%2e`, `%61${h}`, `${h}.bücher`, `\u212a${h}`, `${h}\u00a0`),
    fc.constantFrom(`\uff41${h}`, `${h}.\u0131`),
    // characters no host name uses
    fc.constantFrom(`*.${h}`, `${h}*`, `${h};x`, `${h}!`, `"${h}"`, `<${h}>`, `${h}$`),
    // label and name lengths
    fc.constant(`${'a'.repeat(64)}.${h}`),
    // 254 characters or more: one over the 253 a DNS name may have (RFC 1035 2.3.4)
    fc.constant(`${'abcdefgh.'.repeat(28)}a.${h}`),
  );
}

/** Malformed values that do not depend on a host. */
export const malformedStandalone: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc.constantFrom(' ', '.', '..', ':', ':80', '[]', '[', ']', '@', ','),
  // unbracketed IPv6, IPvFuture, zones, broken literals
  fc.constantFrom('::1', '2001:db8::1', '[v1.fe]', '[::1%25eth0]', '[fe80::1%eth0]', '[::1'),
  fc.constantFrom('[::1]x', '[::1]:', '[::1]:0', '[::g]', '[1:2:3:4:5:6:7:8:9]', '[1::2::3]'),
  fc.constantFrom('[[::1]]', '[::1]]', '[::1]:80:80'),
  // numbers that inet_aton or WHATWG URL read as IPv4, DNS as names
  fc.constantFrom('127.1', '127.0.1', '2130706433', '0x7f.0.0.1', '0x7f000001', '017.0.0.1'),
  fc.constantFrom('1.2.3.04', '256.1.1.1', '1.2.3.4.5', '1.2.3.', 'a.b.0x', 'example.123'),
  fc.constant('a'.repeat(301)),
);

export const malformedHost: fc.Arbitrary<string> = fc.oneof(
  regName.chain(malformedAround),
  ipv4.chain(malformedAround),
  malformedStandalone,
);
