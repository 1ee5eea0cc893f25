// @ts-check
/**
 * The layer order of src/, enforced on every import (docs/architecture.md, "Dependencies"):
 *
 *   main, cli, app                                  wiring, at the top
 *   transport -> check -> snapshot -> (routes, auth, policy)
 *   sync (beside the check path: builds snapshots, may use snapshot and everything below it)
 *   config, net, decision, jose, observability      the floor
 *
 * Each entry names what one folder must not import. A folder may import itself and
 * anything below it; nothing on the check path imports sync. Type-only imports count too
 * (a type is a dependency), except net's of config (the option types are declared once,
 * by the schema's z.infer). test/ and bench/ are not restricted.
 */

/** An import specifier (relative, as the tree writes them) that reaches into `folder`. */
const into = (/** @type {string} */ folder) => [`**/${folder}/**`, `**/${folder}.js`];

const TOP = ['main', 'cli', 'app', 'dev'];
const CHECK_PATH = ['transport', 'check', 'snapshot', 'routes', 'auth', 'policy'];

/** @type {Array<[folder: string, forbidden: string[], why: string, files?: string[]]>} */
const LAYERS = [
  [
    'transport',
    [...TOP, 'sync', 'snapshot', 'routes', 'auth', 'policy'],
    'transports know only check (the Authorizer contract) and the decision types',
  ],
  ['check', [...TOP, 'sync', 'transport'], 'the check path never imports sync or the transports'],
  [
    'snapshot',
    [...TOP, 'sync', 'transport', 'check'],
    'snapshot sits below check and above routes, auth and policy',
  ],
  [
    'routes',
    [...TOP, 'sync', 'transport', 'check', 'snapshot'],
    'routes is below check and snapshot',
  ],
  [
    'auth',
    [...TOP, 'sync', 'transport', 'check', 'snapshot'],
    'auth is below check and snapshot; outbound HTTP comes from net',
  ],
  [
    'policy',
    [...TOP, 'sync', 'transport', 'check', 'snapshot'],
    'policy is below check and snapshot',
  ],
  [
    'sync',
    [...TOP, 'transport', 'check'],
    'sync builds snapshots beside the check path and does not reach into it',
  ],
  [
    'config',
    [...TOP, 'sync', ...CHECK_PATH],
    'config is the floor: lists and helpers it needs live in net, jose or config',
  ],
  [
    'net',
    [...TOP, 'sync', ...CHECK_PATH],
    'net is the floor for outbound HTTP: sync and auth use it, not the other way',
  ],
  [
    'observability',
    [...TOP, 'sync', ...CHECK_PATH, 'config', 'net'],
    'logs and metrics are the floor',
    ['logger.ts', 'log-messages.ts', 'metrics.ts', 'check-phases.ts', 'trace-context.ts'],
  ],
  [
    'observability',
    ['main', 'app', 'dev', 'transport', 'sync'],
    'decision logs, traces and the status page watch the check path beside it, as sync builds beside it',
    [
      'check-observer.ts',
      'observability.ts',
      'runtime-metrics.ts',
      'status-page.ts',
      'tracing.ts',
      'decision-rates.ts',
      'decision-log/**/*.ts',
    ],
  ],
  [
    'decision',
    [...TOP, 'sync', ...CHECK_PATH, 'config', 'net', 'jose', 'observability'],
    'decision and deny-code types are the floor',
  ],
  [
    'jose',
    [...TOP, 'sync', ...CHECK_PATH, 'config', 'net', 'decision', 'observability'],
    'the JWS algorithm lists are the floor',
  ],
];

export const layerRules = LAYERS.map(([folder, forbidden, why, files]) => ({
  files:
    files === undefined ? [`src/${folder}/**/*.ts`] : files.map((file) => `src/${folder}/${file}`),
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            group: forbidden.flatMap(into),
            message: `layer order: src/${folder} must not import this (${why}; see docs/architecture.md).`,
          },
          ...(folder === 'net'
            ? [
                {
                  group: into('config'),
                  allowTypeImports: true,
                  message:
                    'layer order: src/net imports only config types (the schema validates, net receives the result).',
                },
              ]
            : []),
        ],
      },
    ],
  },
}));
