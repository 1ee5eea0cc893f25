import { findOpa } from '../src/policy/opa-binary.js';

/**
 * The suites compile real Rego with the real opa CLI. `npm test` installs it first
 * (scripts/setup.sh); a bare `npx vitest` on a fresh clone gets this message instead of
 * a hundred confusing failures.
 */
export default async function setup(): Promise<void> {
  try {
    await findOpa(undefined);
  } catch (error) {
    throw new Error(`${(error as Error).message}\nRun "npm run setup" once, then the tests.`);
  }
}
