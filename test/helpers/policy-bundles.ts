import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { opaBuild, type FileTree } from '../sync/bundle/helpers/opa-cli.js';
import { FIXTURE_POLICIES } from './test-gatehouse.js';

/**
 * The fixture policies as a bundle tree, the way a central server would publish them with
 * `opa build`: Rego, data.json, and the API catalog as data at gatehouse/catalog.
 */
export async function fixtureBundleTree(
  edit: (files: Record<string, string>) => void = () => undefined,
): Promise<FileTree> {
  const files: Record<string, string> = {};
  for (const name of await readdir(FIXTURE_POLICIES)) {
    const text = await readFile(path.join(FIXTURE_POLICIES, name), 'utf8');
    if (name === 'catalog.yaml') {
      files['gatehouse/catalog/data.json'] = JSON.stringify(parseYaml(text));
    } else {
      files[name] = text;
    }
  }
  edit(files);
  return files;
}

/** `opa build` of the fixture bundle, with a revision. */
export async function fixtureBundle(
  revision: string,
  edit?: (files: Record<string, string>) => void,
  args: readonly string[] = [],
): Promise<Buffer> {
  return opaBuild(await fixtureBundleTree(edit), ['--revision', revision, ...args]);
}

/**
 * The config keys of a Gatehouse whose only policy source is the bundle at `url`: no policy
 * folder, polled hourly (a test asks for reloads itself), `bundle` merged over that.
 */
export function bundleOnlyConfig(
  url: string,
  persistence: Record<string, unknown>,
  bundle: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    policies: { dir: '/nonexistent', watch: false },
    persistence,
    bundle: { url, pollMinDelayS: 3600, pollMaxDelayS: 3600, ...bundle },
  };
}
