import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../config/load-config.js';
import { DEV_AUDIENCE, DEV_ISSUER } from '../dev/dev-keys.js';
import { mintDevToken } from '../dev/dev-token.js';
import { OpaNotFoundError } from '../policy/opa-binary.js';
import { runGatehouse } from './run-command.js';
import { validateConfigFile } from './validate-command.js';
import {
  addHeader,
  ExplainInputError,
  explainRequest,
  formatExplanation,
  parseExplainJson,
  type ExplainRequest,
} from './explain-command.js';
import { readFile } from 'node:fs/promises';
import { gatehouseVersion } from './version.js';

/** Exit statuses: 0 done, 1 the work failed (bad config, failed build), 2 bad usage. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const COMMANDS = ['run', 'validate', 'explain', 'version', 'token', 'help'];

const MORE_HELP = `
Flags of the commands (gatehouse <command> --help for details):
  run, validate   -c, --config <file>   configuration file (YAML or JSON)
  validate        --show-rego           print the Rego of each declarative policy
  explain         -c, --config, --method, --path, --host, --header <name:value> (repeatable),
                  --token, --request <file|->, --json; exit 0 allowed, 1 denied, 2 usage
  token           --sub, --roles, --scope, --aud, --iss, --ttl-s, --key-dir

Environment variables:
  GATEHOUSE_CONFIG      config file when --config is not given (default ./gatehouse.yaml)
  GATEHOUSE_GRPC_PORT   overrides grpc.port
  GATEHOUSE_HTTP_PORT   overrides http.port
  GATEHOUSE_LOG_LEVEL   overrides log.level
  GATEHOUSE_POLICY_DIR  overrides policies.dir
  OPA_BIN               overrides opa.binary (the opa CLI used to compile Rego)
  Secrets are read from the variables the config names (clientSecretEnv, hmacSecretEnv, ...).
`;

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

/**
 * The command line. Resolves with the exit status; `run` resolves once the servers are up
 * (with EXIT_OK) and the process then lives on its listeners. Usage mistakes (unknown
 * flags or subcommands, missing values) get one line on stderr and status 2, never a
 * stack trace.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let status = EXIT_OK;
  const configOption = (): Option =>
    new Option('-c, --config <file>', 'configuration file (YAML or JSON)').env('GATEHOUSE_CONFIG');
  const configFile = (options: { config?: string }): string => options.config ?? 'gatehouse.yaml';

  const program = new Command('gatehouse')
    .description('An API authorizer sidecar: Envoy ext_authz and HTTP checks, Rego in WASM.')
    .version(gatehouseVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .addHelpText('after', MORE_HELP)
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // One line, no usage dump: the user asked for something this CLI does not have.
      outputError: (text, write) => {
        write(`${text.trim()} (see gatehouse --help)\n`);
      },
    });

  program
    .command('run', { isDefault: true })
    .description('start the gRPC and HTTP servers (the default command)')
    .addOption(configOption())
    .action(async (options: { config?: string }) => {
      await runGatehouse(configFile(options), io.env);
    });

  program
    .command('validate')
    .description('check the config, the files it names and that the policies build; open no port')
    .addOption(configOption())
    .option('--show-rego', 'print the Rego each declarative policy (*.policy.yaml) compiles to')
    .action(async (options: { config?: string; showRego?: boolean }) => {
      const report = await validateConfigFile(configFile(options), io.env);
      if (options.showRego === true) {
        for (const { path, rego } of report.generatedRego) io.stdout(`# ---- ${path}\n${rego}\n`);
      }
      for (const line of report.checked) io.stdout(`ok: ${line}\n`);
      for (const problem of report.problems) io.stderr(`problem: ${problem}\n`);
      status = report.problems.length === 0 ? EXIT_OK : EXIT_FAILED;
    });

  program
    .command('explain')
    .description(
      'decide one request over the local snapshot and show each step; open no port ' +
        '(exit 0 allowed, 1 denied or no snapshot, 2 usage)',
    )
    .addOption(configOption())
    .option('--method <method>', 'request method', 'GET')
    .option('--path <path>', 'request-target: path and query, as the client sent it')
    .option('--host <host>', 'Host / :authority', 'localhost')
    .option('--header <name:value>', 'a request header (repeatable)', collect, [])
    .option('--token <token>', 'shorthand for --header "authorization:Bearer <token>"')
    .option('--request <file>', 'the request as a POST /v1/check JSON body; - reads stdin')
    .option('--json', 'print the explanation as JSON')
    .action(async (options: ExplainFlags) => {
      const request = await explainInput(options);
      const explanation = await explainRequest(configFile(options), io.env, request);
      io.stdout(
        options.json === true
          ? `${JSON.stringify(explanation, null, 2)}\n`
          : formatExplanation(explanation),
      );
      status = explanation.decision.allowed ? EXIT_OK : EXIT_FAILED;
    });

  program
    .command('version')
    .description('print the version')
    .action(() => {
      io.stdout(`${gatehouseVersion()}\n`);
    });

  program
    .command('token')
    .description('print a JWT signed with the local development key (never use it in production)')
    .option('--sub <sub>', 'subject', 'alice')
    .option('--roles <roles>', 'comma-separated roles', 'reader')
    .option('--scope <scope>', 'space-separated scopes', 'orders:read')
    .option('--aud <aud>', 'audience', DEV_AUDIENCE)
    .option('--iss <iss>', 'issuer', DEV_ISSUER)
    .option('--ttl-s <seconds>', 'lifetime in seconds', positiveInteger, 3600)
    .option('--key-dir <dir>', 'where the dev key lives', path.join(ROOT, '.gatehouse', 'dev'))
    .action(async (options: TokenFlags) => {
      const token = await mintDevToken({
        sub: options.sub,
        roles: options.roles.split(',').filter((role) => role !== ''),
        scope: options.scope,
        aud: options.aud,
        iss: options.iss,
        ttlS: options.ttlS,
        keyDir: options.keyDir,
      });
      io.stdout(`${token}\n`);
    });

  // `run` is the default command, so commander would read a mistyped command as an
  // argument of `run`; name it for what it is.
  const first = argv[0];
  if (first !== undefined && !first.startsWith('-') && !COMMANDS.includes(first)) {
    io.stderr(`error: unknown command '${first}' (see gatehouse --help)\n`);
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exitCode 0.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof ExplainInputError) {
      io.stderr(`error: ${error.message} (see gatehouse explain --help)\n`);
      return EXIT_USAGE;
    }
    if (error instanceof ConfigError || error instanceof OpaNotFoundError) {
      io.stderr(`gatehouse: ${error.message}\n`);
      return EXIT_FAILED;
    }
    throw error;
  }
}

interface ExplainFlags {
  readonly config?: string;
  readonly method: string;
  readonly path?: string;
  readonly host: string;
  readonly header: readonly string[];
  readonly token?: string;
  readonly request?: string;
  readonly json?: boolean;
}

/** The request from --request (a file or stdin), else from the flags. */
async function explainInput(options: ExplainFlags): Promise<ExplainRequest> {
  if (options.request !== undefined) {
    if (options.path !== undefined || options.header.length > 0 || options.token !== undefined) {
      throw new ExplainInputError(
        '--request takes the whole request: no --path, --header or --token',
      );
    }
    const text =
      options.request === '-' ? await readStdin() : await readFile(options.request, 'utf8');
    return parseExplainJson(text);
  }
  if (options.path === undefined) throw new ExplainInputError('--path or --request is required');
  const headers: Record<string, string> = {};
  for (const header of options.header) {
    const colon = header.indexOf(':');
    if (colon <= 0) throw new ExplainInputError(`--header ${header}: expected name:value`);
    addHeader(headers, header.slice(0, colon).trim(), header.slice(colon + 1).trim());
  }
  if (options.token !== undefined) addHeader(headers, 'authorization', `Bearer ${options.token}`);
  return {
    method: options.method,
    path: options.path,
    host: options.host,
    headers,
    body: '',
    scheme: 'http',
    sourceAddress: undefined,
  };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function collect(value: string, previous: readonly string[]): string[] {
  return [...previous, value];
}

interface TokenFlags {
  readonly sub: string;
  readonly roles: string;
  readonly scope: string;
  readonly aud: string;
  readonly iss: string;
  readonly ttlS: number;
  readonly keyDir: string;
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) {
    throw new InvalidArgumentError('must be a positive integer');
  }
  return parsed;
}
