import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
// The very rule objects eslint.config.js spreads in, so this proves what `npm run lint` runs.
import { layerRules } from '../../eslint-layers.js';

const RULE = '@typescript-eslint/no-restricted-imports';

/** Lints one import as if it were written in `filePath` (nothing is written to disk). */
async function lintImport(filePath: string, statement: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: process.cwd(),
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { '@typescript-eslint': tseslint.plugin },
      },
      ...layerRules,
    ],
  });
  const [result] = await eslint.lintText(`${statement}\nexport {};\n`, { filePath });
  return (result?.messages ?? []).map(
    (message) => `${message.ruleId ?? 'fatal'}: ${message.message}`,
  );
}

describe('the layer-order lint rule fails an import against the order', () => {
  it.each([
    [
      'the check path importing sync',
      'src/check/x.ts',
      "import { ControlLoop } from '../sync/control-loop.js';",
    ],
    [
      'auth importing sync (the old introspection exception)',
      'src/auth/introspection/x.ts',
      "import { fetchBytes } from '../../sync/http-fetch.js';",
    ],
    [
      'auth importing check',
      'src/auth/x.ts',
      "import type { Decision } from '../check/pipeline.js';",
    ],
    [
      'policy importing check',
      'src/policy/x.ts',
      "import { CheckPipeline } from '../check/pipeline.js';",
    ],
    [
      'config importing sync',
      'src/config/x.ts',
      "import { x } from '../sync/bundle/verify-signature.js';",
    ],
    ['config importing auth', 'src/config/x.ts', "import { x } from '../auth/jwt-verifier.js';"],
    [
      'snapshot importing check',
      'src/snapshot/x.ts',
      "import { x } from '../check/allow-headers.js';",
    ],
    [
      'a transport importing the snapshot',
      'src/transport/http/x.ts',
      "import type { Snapshot } from '../../snapshot/snapshot.js';",
    ],
    ['sync importing check', 'src/sync/x.ts', "import { x } from '../check/authenticate.js';"],
    ['net importing sync', 'src/net/oauth/x.ts', "import { x } from '../../sync/control-loop.js';"],
    [
      'net importing a config value',
      'src/net/x.ts',
      "import { configSchema } from '../config/schema.js';",
    ],
    [
      'the decision types importing check',
      'src/decision/x.ts',
      "import { x } from '../check/pipeline.js';",
    ],
    [
      'anything below app importing app',
      'src/check/x.ts',
      "import { startGatehouse } from '../app.js';",
    ],
  ])('%s', async (_, filePath, statement) => {
    const messages = await lintImport(filePath, statement);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(new RegExp(`^${RULE}: .*layer order: src/`));
  });

  it.each([
    ['check importing auth', 'src/check/x.ts', "import { x } from '../auth/jwt-verifier.js';"],
    [
      'auth importing net (the one outbound-HTTP floor)',
      'src/auth/introspection/x.ts',
      "import { fetchBytes } from '../../net/http-fetch.js';",
    ],
    [
      'auth importing the deny codes',
      'src/auth/x.ts',
      "import type { DenyCode } from '../decision/deny-codes.js';",
    ],
    [
      'sync importing snapshot',
      'src/sync/x.ts',
      "import { buildSnapshot } from '../snapshot/build-snapshot.js';",
    ],
    [
      'net importing a config type',
      'src/net/x.ts',
      "import type { GatehouseConfig } from '../config/schema.js';",
    ],
    ['app importing sync', 'src/app.ts', "import { ControlLoop } from './sync/control-loop.js';"],
  ])('but not %s', async (_, filePath, statement) => {
    expect(await lintImport(filePath, statement)).toEqual([]);
  });
});
