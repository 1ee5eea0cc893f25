import { gunzipSync } from 'node:zlib';

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

export class TarError extends Error {
  readonly code = 'GH_TAR_INVALID';
  constructor(message: string) {
    super(message);
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
