import { gzipSync } from 'node:zlib';

/**
 * A small ustar writer for hand-built (and deliberately broken) bundles: `opa build` will
 * not write a "../" path or a symlink, so the attack tests make their own archives.
 */
export interface TarSpec {
  readonly path: string;
  readonly content?: string | Buffer;
  /** ustar type flag: '0' file (default), '1' hard link, '2' symlink, '3' char device, '5' dir, '6' FIFO. */
  readonly type?: string;
  readonly linkTarget?: string;
  /** Put the path in a PAX header (also what happens for paths over 100 bytes). */
  readonly pax?: boolean;
  /** Put the path in a GNU long-name ('L') entry. */
  readonly gnuLongName?: boolean;
}

export interface TarOptions {
  /** Write the end-of-archive marker (two zero blocks). Default true. */
  readonly endMarker?: boolean;
  /** Store this instead of the correct header checksum. */
  readonly corruptChecksum?: boolean;
}

const BLOCK = 512;

export function tar(entries: readonly TarSpec[], options: TarOptions = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const content = Buffer.from(entry.content ?? '');
    const pathBytes = Buffer.from(entry.path, 'utf8');
    let name = entry.path;
    if (entry.pax === true || pathBytes.length > 100) {
      const record = paxRecord('path', entry.path);
      blocks.push(header({ name: 'PaxHeader', size: record.length, type: 'x' }, options));
      blocks.push(padded(record));
      name = 'long-name-in-pax-header';
    } else if (entry.gnuLongName === true) {
      const longName = Buffer.concat([pathBytes, Buffer.from([0])]);
      blocks.push(header({ name: '././@LongLink', size: longName.length, type: 'L' }, options));
      blocks.push(padded(longName));
      name = 'long-name-in-gnu-entry';
    }
    const type = entry.type ?? '0';
    const size = type === '0' ? content.length : 0;
    blocks.push(header({ name, size, type, linkTarget: entry.linkTarget ?? '' }, options));
    if (size > 0) blocks.push(padded(content));
  }
  if (options.endMarker ?? true) blocks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(blocks);
}

export function tarGz(entries: readonly TarSpec[], options: TarOptions = {}): Buffer {
  return gzipSync(tar(entries, options));
}

/** Entries for every file of a { path: content } map, in sorted order. */
export function specsOf(files: Readonly<Record<string, string | Buffer>>): TarSpec[] {
  return Object.keys(files)
    .sort()
    .map((path) => ({ path, content: files[path] ?? '' }));
}

function header(
  fields: { name: string; size: number; type: string; linkTarget?: string },
  options: TarOptions,
): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(fields.name.slice(0, 100), 0, 'utf8');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${fields.size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write('00000000000\0', 136, 'latin1');
  block.write(fields.type, 156, 'latin1');
  block.write((fields.linkTarget ?? '').slice(0, 100), 157, 'utf8');
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  if (options.corruptChecksum === true) sum += 1;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function padded(data: Buffer): Buffer {
  const length = Math.ceil(data.length / BLOCK) * BLOCK;
  return Buffer.concat([data, Buffer.alloc(length - data.length)]);
}

/** "<length> <key>=<value>\n", where the length counts the whole record, itself included. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return Buffer.from(`${length}${body}`, 'utf8');
}
