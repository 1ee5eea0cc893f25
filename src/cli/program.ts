import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../config/load-config.js';
import { DEV_AUDIENCE, DEV_ISSUER } from '../dev/dev-keys.js';
import { mintDevToken } from '../dev/dev-token.js';
import { OpaNotFoundError } from '../policy/opa-binary.js';
import { runGatehouse } from './run-command.js';
import { validateConfigFile } from './validate-command.js';
import { gatehouseVersion } from './version.js';

/** Exit statuses: 0 done, 1 the work failed (bad config, failed build), 2 bad usage. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const COMMANDS = ['run', 'validate', 'version', 'token', 'help'];

const MORE_HELP = `
Flags of the commands (gatehouse <command> --help for details):
  run, validate   -c, --config <file>   configuration file (YAML or JSON)
  validate        --show-rego           print the Rego of each declarative policy
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
    if (error instanceof ConfigError || error instanceof OpaNotFoundError) {
      io.stderr(`gatehouse: ${error.message}\n`);
      return EXIT_FAILED;
    }
    throw error;
  }
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
