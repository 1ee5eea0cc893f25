import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BundleError, type BundleErrorCode } from '../../../src/sync/bundle/bundle-error.js';
import type { BundleLimits } from '../../../src/sync/bundle/bundle-limits.js';
import { normalizeBundlePath } from '../../../src/sync/bundle/bundle-paths.js';
import { readBundle } from '../../../src/sync/bundle/read-bundle.js';
import { specsOf, tar, tarGz, type TarSpec } from './helpers/tar-writer.js';

const REGO = 'package p\n\nallow := true\n';

async function rejection(archive: Buffer, limits?: Partial<BundleLimits>): Promise<BundleError> {
  const options =
    limits === undefined
      ? {}
      : {
          limits: {
            maxCompressedBytes: 1024 * 1024,
            maxUncompressedBytes: 1024 * 1024,
            maxFiles: 100,
            maxFileBytes: 64 * 1024,
            ...limits,
          },
        };
  const error: unknown = await readBundle(archive, options).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, 'the bundle was accepted').toBeInstanceOf(BundleError);
  return error as BundleError;
}

/** One row per known attack on archive extraction, named after it. */
const PATH_ATTACKS: ReadonlyArray<{
  name: string;
  entries: TarSpec[];
  code: BundleErrorCode;
  message: RegExp;
}> = [
  {
    name: 'path traversal: ../ at the start',
    entries: [{ path: '../evil.rego', content: REGO }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /entry "\.\.\/evil\.rego" has a "\.\." segment/,
  },
  {
    name: 'path traversal: ../ in the middle',
    entries: [{ path: '/policies/../../etc/data.json', content: '{}' }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /has a "\.\." segment/,
  },
  {
    name: 'path traversal: a bare ..',
    entries: [{ path: '/a/..', content: '' }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /has a "\.\." segment/,
  },
  {
    name: 'absolute path: a second leading slash',
    entries: [{ path: '//etc/passwd', content: 'root' }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /entry "\/\/etc\/passwd" is an absolute path/,
  },
  {
    name: 'absolute path: a Windows drive letter',
    entries: [{ path: 'C:/Windows/evil.rego', content: REGO }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /is an absolute path \(drive letter\)/,
  },
  {
    name: 'backslash separators (a traversal a "/" split would miss)',
    entries: [{ path: '..\\..\\evil.rego', content: REGO }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /contains a backslash/,
  },
  {
    name: 'NUL byte in a PAX path (a C reader would stop at it)',
    entries: [{ path: 'policy.rego\0.txt', content: REGO, pax: true }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /contains a NUL byte/,
  },
  {
    name: 'control character in a name (log injection)',
    entries: [{ path: 'p.rego\n2024-01-01 INFO forged', content: REGO, pax: true }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /contains a control character/,
  },
  {
    name: 'empty segment',
    entries: [{ path: 'orders//data.json', content: '{}' }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /has an empty segment/,
  },
  {
    name: 'symlink entry',
    entries: [{ path: '/data.json', type: '2', linkTarget: '/etc/passwd' }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /entry "\/data\.json" is a symbolic link, not a regular file/,
  },
  {
    name: 'hard link entry',
    entries: [{ path: '/p.rego', type: '1', linkTarget: '/etc/shadow' }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /is a hard link, not a regular file/,
  },
  {
    name: 'character device entry',
    entries: [{ path: '/dev-zero', type: '3' }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /is a character device, not a regular file/,
  },
  {
    name: 'FIFO entry',
    entries: [{ path: '/pipe', type: '6' }],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /is a FIFO, not a regular file/,
  },
  {
    name: 'duplicate path: the same file twice',
    entries: [
      { path: '/p.rego', content: REGO },
      { path: '/p.rego', content: 'package p\n\nallow := false\n' },
    ],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /p\.rego appears more than once in the archive/,
  },
  {
    name: 'duplicate path: "/data.json" and "data.json" name one file',
    entries: [
      { path: '/data.json', content: '{"a": 1}' },
      { path: 'data.json', content: '{"a": 2}' },
    ],
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /data\.json appears more than once/,
  },
];

describe('readBundle refuses archive attacks', () => {
  for (const attack of PATH_ATTACKS) {
    it(attack.name, async () => {
      const error = await rejection(tarGz(attack.entries));

      expect(error.code).toBe(attack.code);
      expect(error.message).toMatch(attack.message);
    });
  }

  it('accepts the names opa and tar write: "/x", "./x", "x", long PAX and GNU names', async () => {
    const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
    const bundle = await readBundle(
      tarGz([
        { path: '/a.rego', content: REGO },
        { path: './b.rego', content: REGO },
        { path: 'c.rego', content: REGO },
        { path: `${longDir}/pax.rego`, content: REGO },
        { path: `${longDir}/gnu.rego`, content: REGO, gnuLongName: true },
        { path: 'dir/', type: '5' },
      ]),
    );

    expect(bundle.regoFiles.map((file) => file.path).sort()).toEqual([
      'a.rego',
      'b.rego',
      'c.rego',
      `${longDir}/gnu.rego`,
      `${longDir}/pax.rego`,
    ]);
  });

  it('normalizeBundlePath: table', () => {
    const table: Array<[string, string]> = [
      ['/data.json', 'data.json'],
      ['./orders/data.json', 'orders/data.json'],
      ['orders/eu/data.yaml', 'orders/eu/data.yaml'],
      ['/.manifest', '.manifest'],
      ['/a..b/c.rego', 'a..b/c.rego'],
    ];
    for (const [input, expected] of table) expect(normalizeBundlePath(input)).toBe(expected);
    for (const bad of ['', '/', './', '.', '/./x', 'a/./b', 'x/', '///x', 'c:x']) {
      expect(() => normalizeBundlePath(bad), bad).toThrow(BundleError);
    }
  });
});

describe('readBundle refuses broken and oversized archives', () => {
  it('garbage body: not gzip at all', async () => {
    const error = await rejection(Buffer.from('<html>502 Bad Gateway</html>'));

    expect(error.code).toBe('GH_BUNDLE_INVALID');
    expect(error.message).toMatch(/not a valid gzip stream: incorrect header check/);
  });

  it('garbage inside valid gzip: not a tar archive', async () => {
    const error = await rejection(gzipSync(randomBytes(4096)));

    expect(error.code).toBe('GH_BUNDLE_INVALID');
    expect(error.message).toMatch(/bad checksum|no valid checksum/);
  });

  it('a header whose checksum does not match', async () => {
    const error = await rejection(tarGz(specsOf({ '/p.rego': REGO }), { corruptChecksum: true }));

    expect(error.message).toMatch(/header at byte 0 has a bad checksum/);
  });

  it('truncated download: the gzip stream is cut short', async () => {
    const archive = tarGz(specsOf({ '/p.rego': REGO, '/data.json': '{"a": 1}' }));

    const error = await rejection(archive.subarray(0, Math.floor(archive.length / 2)));

    expect(error.code).toBe('GH_BUNDLE_INVALID');
    expect(error.message).toMatch(/not a valid gzip stream: unexpected end of file/);
  });

  it('truncated tar inside a complete gzip stream: cut inside an entry', async () => {
    const raw = tar([{ path: '/p.rego', content: REGO.repeat(100) }]);

    const error = await rejection(gzipSync(raw.subarray(0, 1024)));

    expect(error.message).toMatch(/archive is truncated inside entry "\/p\.rego"/);
  });

  it('truncated tar at an entry boundary: the end-of-archive marker is missing', async () => {
    const error = await rejection(tarGz(specsOf({ '/p.rego': REGO }), { endMarker: false }));

    expect(error.message).toMatch(/ends without the end-of-archive marker/);
  });

  it('a PAX header whose record length does not add up', async () => {
    const good = tar([{ path: 'p.rego', content: REGO, pax: true }]);
    // The first record's length prefix sits at the start of the PAX header's data block.
    const broken = Buffer.from(good);
    broken.write('99', 512, 'latin1');

    const error = await rejection(gzipSync(broken));

    expect(error.code).toBe('GH_BUNDLE_INVALID');
    expect(error.message).toMatch(/PAX header at byte 0 has a malformed record/);
  });

  it('oversized download: over maxCompressedBytes', async () => {
    const archive = tarGz(specsOf({ '/data.json': JSON.stringify(randomBytes(4096)) }));

    const error = await rejection(archive, { maxCompressedBytes: 1000 });

    expect(error.code).toBe('GH_BUNDLE_TOO_LARGE');
    expect(error.message).toMatch(/archive is \d+ bytes, over the 1000-byte limit/);
  });

  it('gzip bomb: expands past maxUncompressedBytes', async () => {
    const bomb = tarGz([{ path: '/data.json', content: Buffer.alloc(8 * 1024 * 1024, 0x20) }]);
    expect(bomb.length).toBeLessThan(64 * 1024);

    const error = await rejection(bomb, { maxUncompressedBytes: 1024 * 1024 });

    expect(error.code).toBe('GH_BUNDLE_TOO_LARGE');
    expect(error.message).toMatch(/expands to more than the 1048576-byte limit/);
  });

  it('one file over maxFileBytes', async () => {
    const error = await rejection(tarGz(specsOf({ '/big.json': 'x'.repeat(5000) })), {
      maxFileBytes: 4096,
    });

    expect(error.code).toBe('GH_BUNDLE_TOO_LARGE');
    expect(error.message).toMatch(/entry "\/big\.json" is 5000 bytes, over the 4096-byte limit/);
  });

  it('more files than maxFiles', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 11 }, (_, i) => [`/f${i}.txt`, 'x'] as const),
    );

    const error = await rejection(tarGz(specsOf(files)), { maxFiles: 10 });

    expect(error.code).toBe('GH_BUNDLE_TOO_LARGE');
    expect(error.message).toMatch(/more than 10 files/);
  });

  it('invalid limits are an options error naming the limit', async () => {
    const error = await rejection(tarGz(specsOf({ '/p.rego': REGO })), { maxFiles: 0 });

    expect(error.code).toBe('GH_BUNDLE_OPTIONS_INVALID');
    expect(error.message).toMatch(/limits\.maxFiles must be a positive integer/);
  });
});
