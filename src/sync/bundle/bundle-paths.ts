import { BundleError } from './bundle-error.js';

/**
 * Turns a tar entry name into a bundle path ("orders/data.json": "/"-separated, relative to
 * the bundle root, no leading slash), or refuses it. Gatehouse never writes bundle files to
 * disk, but their paths decide which data subtree a file lands in and which name its
 * signature covers, so any name that could mean two things is refused.
 *
 * One leading "/" is accepted and dropped: `opa build` writes every entry that way
 * ("/data.json", "/.manifest") and OPA reads such names relative to the bundle root
 * (bundle/file.go, tarball loader; the signature names drop it too, bundle/bundle.go).
 * A leading "./", as `tar -C dir .` writes, is dropped the same way. What is left must be
 * plain segments: an absolute path (a second leading "/" or a drive letter), an empty, "."
 * or ".." segment, a backslash (a Windows separator that a "/" split would miss), a NUL or
 * any other control character is refused.
 */
export function normalizeBundlePath(name: string): string {
  const unsafe = (why: string): BundleError =>
    new BundleError('GH_BUNDLE_UNSAFE_PATH', `entry ${JSON.stringify(name)} ${why}`);

  if (name.includes('\0')) throw unsafe('contains a NUL byte');
  // eslint-disable-next-line no-control-regex -- control characters are what we look for
  if (/[\u0001-\u001f\u007f]/.test(name)) throw unsafe('contains a control character');
  if (name.includes('\\')) throw unsafe('contains a backslash');
  let path = name;
  if (path.startsWith('./')) path = path.slice(2);
  else if (path.startsWith('/')) path = path.slice(1);
  if (path.startsWith('/')) throw unsafe('is an absolute path');
  if (/^[A-Za-z]:/.test(path)) throw unsafe('is an absolute path (drive letter)');
  if (path === '') throw unsafe('names no file');
  for (const segment of path.split('/')) {
    if (segment === '..') throw unsafe('has a ".." segment');
    if (segment === '.') throw unsafe('has a "." segment');
    if (segment === '') throw unsafe('has an empty segment');
  }
  return path;
}

/** "orders/eu/data.json" -> ["orders", "eu"]: where a data file sits in the data tree. */
export function directorySegments(path: string): string[] {
  const segments = path.split('/');
  segments.pop();
  return segments;
}

/** The last segment: OPA recognizes data and special files by base name. */
export function baseName(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? path : path.slice(slash + 1);
}
