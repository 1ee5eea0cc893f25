import { appendFile, cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FIXTURE_POLICIES } from './test-gatehouse.js';

/**
 * The fixture policies plus one API that requires DPoP server nonces (RFC 9449 section 8):
 * GET /secure/{id}. The DPoP-nonce suites (check/dpop-nonce, nginx-dpop-nonce) ask it.
 */
export const NONCE_CATALOG_ADDITION = `
  - name: secure
    apis:
      - id: secure.get
        method: GET
        path: /secure/{id}
        auth:
          dpopNonce: required
`;

/** Writes that policy folder into a fresh temp dir named with `prefix`; the caller removes it. */
export async function writeNonceCatalog(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  await cp(FIXTURE_POLICIES, dir, { recursive: true });
  await appendFile(path.join(dir, 'catalog.yaml'), NONCE_CATALOG_ADDITION);
  return dir;
}
