import { promisify } from 'node:util';
import { gunzip, gunzipSync } from 'node:zlib';
import { GatehouseError } from '../errors/gatehouse-error.js';

/**
 * A minimal reader for the gzip'ed tarballs `opa build` writes (POSIX ustar, with PAX
 * extended headers for long names). Only regular files are returned; links and devices
 * are refused, so nothing in an archive can point outside it.
 */

export interface TarEntry {
  readonly path: string;
  readonly content: Buffer;
}

export interface TarLimits {
  readonly maxUncompressedBytes: number;
  readonly maxFiles: number;
}

export class TarError extends GatehouseError<
  'GH_TAR_INVALID' | 'GH_TAR_TOO_LARGE' | 'GH_TAR_ENTRY_REFUSED'
> {
  constructor(message: string, code: TarError['code'] = 'GH_TAR_INVALID') {
    super(code, message);
    this.name = 'TarError';
  }
}

const BLOCK = 512;

export function readTarGz(archive: Buffer, limits: TarLimits): TarEntry[] {
  let tar: Buffer;
  try {
    tar = gunzipSync(archive, { maxOutputLength: limits.maxUncompressedBytes });
  } catch (error) {
    throw new TarError(`not a valid gzip stream within the size limit: ${String(error)}`);
  }
  const entries: TarEntry[] = [];
  let offset = 0;
  let paxPath: string | undefined;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break; // end-of-archive marker
    const size = parseOctal(header.subarray(124, 136));
    const type = String.fromCharCode(header[156] ?? 0);
    const dataStart = offset + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > tar.length) throw new TarError('archive is truncated');
    const data = tar.subarray(dataStart, dataEnd);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'x') {
      paxPath = parsePaxPath(data) ?? paxPath;
      continue;
    }
    if (type === 'g') continue; // global PAX header: nothing we use
    const name = paxPath ?? ustarName(header);
    paxPath = undefined;
    if (type === '5') continue; // directory
    if (type !== '0' && type !== '\0') {
      throw new TarError(`entry "${name}" is not a regular file (type "${type}")`);
    }
    if (entries.length >= limits.maxFiles) {
      throw new TarError(`archive has more than ${limits.maxFiles} files`);
    }
    entries.push({ path: name, content: Buffer.from(data) });
  }
  return entries;
}

function parseOctal(field: Buffer): number {
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`bad size field "${text}"`);
  return parseInt(text, 8);
}

function ustarName(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  const prefix = cString(header.subarray(345, 500));
  return prefix === '' ? name : `${prefix}/${name}`;
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** PAX records are "<len> <key>=<value>\n". */
function parsePaxPath(data: Buffer): string | undefined {
  for (const record of data.toString('utf8').split('\n')) {
    const match = /^\d+ path=(.*)$/s.exec(record);
    if (match?.[1] !== undefined) return match[1];
  }
  return undefined;
}

/** Limits for {@link readTarGzBounded}; all in bytes except `maxFiles`. */
export interface BoundedTarLimits extends TarLimits {
  /** The largest single file, checked against its header before its content is read. */
  readonly maxFileBytes: number;
}

/** The archive was well-formed as far as it was read, but goes over one of the limits. */
export class TarLimitError extends TarError {
  constructor(message: string) {
    super(message, 'GH_TAR_TOO_LARGE');
    this.name = 'TarLimitError';
  }
}

/** An entry is a link, a device or another non-regular file: it could point outside the archive. */
export class TarEntryTypeError extends TarError {
  constructor(
    readonly entryPath: string,
    readonly entryKind: string,
  ) {
    super(`entry "${entryPath}" is a ${entryKind}, not a regular file`, 'GH_TAR_ENTRY_REFUSED');
    this.name = 'TarEntryTypeError';
  }
}

/** Entry types that are not regular files, named for error messages (POSIX ustar, GNU). */
const ENTRY_TYPE_NAMES: Readonly<Record<string, string>> = {
  '1': 'hard link',
  '2': 'symbolic link',
  '3': 'character device',
  '4': 'block device',
  '6': 'FIFO',
  '7': 'contiguous file',
  K: 'GNU long link name',
  S: 'GNU sparse file',
  V: 'GNU volume header',
};

const gunzipAsync = promisify(gunzip);

/**
 * Reads a gzip'ed tarball that came over the network, more strictly than
 * {@link readTarGz}:
 * - decompression runs on the libuv thread pool (zlib's async API), so a large bundle does
 *   not stall the check path that shares this event loop;
 * - a limit breach is a {@link TarLimitError}, anything malformed a plain {@link TarError};
 * - every header's checksum is verified (POSIX ustar), so bytes that merely happen to
 *   gunzip are refused instead of being read as sizes and names;
 * - the end-of-archive marker (a zero block) is required: without it, a tarball cut at a
 *   member boundary would pass for a complete one with fewer files;
 * - GNU long names (type "L", what GNU tar writes for paths over 100 bytes) are read;
 *   every entry that is not a regular file or a directory is refused, as in readTarGz.
 * Paths are returned as written; judging them is the caller's job.
 */
export async function readTarGzBounded(
  archive: Buffer,
  limits: BoundedTarLimits,
): Promise<TarEntry[]> {
  let tar: Buffer;
  try {
    tar = await gunzipAsync(archive, { maxOutputLength: limits.maxUncompressedBytes });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new TarLimitError(
        `archive expands to more than the ${limits.maxUncompressedBytes}-byte limit`,
      );
    }
    throw new TarError(`not a valid gzip stream: ${(error as Error).message}`);
  }
  const entries: TarEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  for (;;) {
    if (offset + BLOCK > tar.length) {
      throw new TarError('archive is truncated: it ends without the end-of-archive marker');
    }
    const headerAt = offset;
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break;
    verifyChecksum(header, headerAt);
    const size = parseOctal(header.subarray(124, 136));
    const type = String.fromCharCode(header[156] ?? 0);
    const name = longName ?? ustarName(header);
    const isMetadata = type === 'x' || type === 'g' || type === 'L';
    if (!isMetadata && type !== '5' && type !== '0' && type !== '\0') {
      throw new TarEntryTypeError(name, ENTRY_TYPE_NAMES[type] ?? `entry of type "${type}"`);
    }
    if (size > limits.maxFileBytes) {
      throw new TarLimitError(
        `entry "${name}" is ${size} bytes, over the ${limits.maxFileBytes}-byte limit per file`,
      );
    }
    const dataStart = offset + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > tar.length) throw new TarError(`archive is truncated inside entry "${name}"`);
    const data = tar.subarray(dataStart, dataEnd);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'x') {
      longName = parsePaxRecords(data, headerAt).get('path') ?? longName;
      continue;
    }
    if (type === 'g') continue; // global PAX header: nothing we use
    if (type === 'L') {
      longName = cString(data);
      continue;
    }
    longName = undefined;
    if (type === '5') continue; // directory
    if (entries.length >= limits.maxFiles) {
      throw new TarLimitError(`archive has more than ${limits.maxFiles} files`);
    }
    entries.push({ path: name, content: Buffer.from(data) });
  }
  return entries;
}

/**
 * The checksum is the sum of the header's bytes with its own field counted as spaces.
 * Some old writers summed signed bytes; both sums are accepted, as GNU tar does.
 */
function verifyChecksum(header: Buffer, offset: number): void {
  let stored: number;
  try {
    stored = parseOctal(header.subarray(148, 156));
  } catch {
    throw new TarError(`header at byte ${offset} has no valid checksum: not a tar archive`);
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new TarError(`header at byte ${offset} has a bad checksum: not a tar archive`);
  }
}

/**
 * PAX extended header records, read by their length prefix as POSIX specifies
 * ("<length> <key>=<value>\n", the length counting the whole record): a value may itself
 * contain newlines, and splitting on them would read a different path than other tar
 * readers do.
 */
function parsePaxRecords(data: Buffer, offset: number): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) break; // padding
    const space = data.indexOf(0x20, at);
    const lengthText = space === -1 ? '' : data.subarray(at, space).toString('latin1');
    const length = /^[1-9]\d*$/.test(lengthText) ? Number(lengthText) : NaN;
    const end = at + length;
    if (!Number.isSafeInteger(length) || end > data.length || data[end - 1] !== 0x0a) {
      throw new TarError(`PAX header at byte ${offset} has a malformed record`);
    }
    const record = data.subarray(space + 1, end - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals <= 0) throw new TarError(`PAX header at byte ${offset} has a malformed record`);
    records.set(record.slice(0, equals), record.slice(equals + 1));
    at = end;
  }
  return records;
}
