/** Makes the dev signing key and its JWKS if missing (scripts/start.sh runs this first). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDevKey } from './dev-keys.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
await ensureDevKey(process.argv[2] ?? path.join(ROOT, '.gatehouse', 'dev'));
