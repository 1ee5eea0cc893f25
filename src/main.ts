#!/usr/bin/env node
import { runCli } from './cli/program.js';

// The command line lives in src/cli; this file only connects it to the process.
runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
}).then(
  (status) => {
    // `run` resolves with the servers up: leave the process to them.
    if (status !== 0) process.exit(status);
  },
  (error: unknown) => {
    process.stderr.write(
      `gatehouse: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
