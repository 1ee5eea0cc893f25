import { appendFile, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FIXTURE_POLICIES } from './test-gatehouse.js';

/**
 * The fixture policies plus one path served twice: by a host-specific API that requires a
 * token (`internal.ledger`, hosts spelled non-canonically on purpose) and by an any-host
 * API that requires nothing (`open.ledger`). A host that slipped past validation would
 * land on the weaker one. Both echo what the policy saw as the host and the API.
 */
export const HOST_CATALOG_ADDITION = `
  - name: internal
    hosts: [Internal.Example.COM., 192.0.2.10]
    policy: test.host_echo
    apis:
      - id: internal.ledger
        method: GET
        path: /ledger/{id}
  - name: open
    policy: test.host_echo
    apis:
      - id: open.ledger
        method: GET
        path: /ledger/{id}
        auth:
          mode: none
`;

const HOST_ECHO_REGO = `package test.host_echo

default allow := false

allow := {"allowed": true, "headers": {
	"x-seen-host": input.attributes.request.http.host,
	"x-seen-api": input.api.id,
}}
`;

export interface HostCatalog {
  readonly dir: string;
  remove(): Promise<void>;
}

/** Writes the policy folder into a fresh temp dir; pass `dir` as `policySource`. */
export async function writeHostCatalog(): Promise<HostCatalog> {
  const root = await mkdtemp(path.join(tmpdir(), 'gatehouse-hosts-'));
  const dir = path.join(root, 'policies');
  await cp(FIXTURE_POLICIES, dir, { recursive: true });
  await appendFile(path.join(dir, 'catalog.yaml'), HOST_CATALOG_ADDITION);
  await writeFile(path.join(dir, 'host_echo.rego'), HOST_ECHO_REGO);
  return { dir, remove: () => rm(root, { recursive: true, force: true }) };
}
