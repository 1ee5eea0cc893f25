import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCatalog } from '../../../src/routes/catalog.js';
import { readPolicyFolder } from '../../../src/sync/folder/read-policy-folder.js';

// The policy folder's discovery of OpenAPI documents: by name, anywhere below the folder,
// next to the catalog or instead of it.

const REGO = 'package svc.api\n\nallow := true\n';
const DOCUMENT = [
  'openapi: 3.0.3',
  'info: { title: Svc, version: "1" }',
  'paths:',
  '  /svc:',
  '    get: { operationId: svc.get, x-gatehouse-policy: svc.api, responses: { "200": { description: ok } } }',
].join('\n');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-openapi-folder-'));
  await writeFile(path.join(dir, 'svc.rego'), REGO);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('OpenAPI documents in the policy folder', () => {
  it('a document alone (no catalog.yaml) is the catalog', async () => {
    await writeFile(path.join(dir, 'svc.openapi.yaml'), DOCUMENT);
    const { inputs } = await readPolicyFolder(dir, 'catalog.yaml');
    expect(parseCatalog(inputs.catalogText).apis.map((a) => [a.service, a.id])).toEqual([
      ['svc', 'svc.get'],
    ]);
    // Not read as Rego.
    expect(inputs.regoFiles.map((f) => f.path)).toEqual(['svc.rego']);
  });

  it('.yml and .json documents are found too, beside the catalog', async () => {
    await writeFile(
      path.join(dir, 'catalog.yaml'),
      'services:\n  - name: other\n    apis: [{ id: other.get, method: GET, path: /other }]\n',
    );
    await writeFile(path.join(dir, 'a.openapi.yml'), DOCUMENT.replace('svc.get', 'a.get'));
    await writeFile(
      path.join(dir, 'b.openapi.json'),
      JSON.stringify({
        openapi: '3.1.0',
        info: { title: 'B', version: '1' },
        paths: {
          '/b': { get: { operationId: 'b.get', responses: { '200': { description: 'ok' } } } },
        },
      }),
    );
    const { inputs } = await readPolicyFolder(dir, 'catalog.yaml');
    expect(parseCatalog(inputs.catalogText).apis.map((a) => a.id)).toEqual([
      'other.get',
      'a.get',
      'b.get',
    ]);
  });

  it('no catalog and no document is still an error', async () => {
    await expect(readPolicyFolder(dir, 'catalog.yaml')).rejects.toThrow(
      /catalog\.yaml: it does not exist/,
    );
  });

  it('without documents the catalog text is passed on unchanged', async () => {
    const catalog = '# comment\nservices: []\n';
    await writeFile(path.join(dir, 'catalog.yaml'), catalog);
    expect((await readPolicyFolder(dir, 'catalog.yaml')).inputs.catalogText).toBe(catalog);
  });
});
