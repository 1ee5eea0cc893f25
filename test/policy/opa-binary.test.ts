import { describe, expect, it } from 'vitest';
import { findOpa, OpaNotFoundError, PROJECT_OPA } from '../../src/policy/opa-binary.js';

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(OpaNotFoundError);
  return error as Error;
}

describe('findOpa', () => {
  it('says exactly what to do when opa is nowhere', async () => {
    const error = await failure(
      findOpa(undefined, {
        projectOpa: '/nonexistent/.tools/bin/opa',
        env: { PATH: '/nonexistent/bin' },
      }),
    );
    expect(error.message).toMatch(/^the opa CLI was not found/);
    expect(error.message).toMatch(/npm run setup/);
    expect(error.message).toMatch(/OPA_BIN/);
  });

  it('a configured binary that does not run is an error, not a silent fallback', async () => {
    const error = await failure(
      findOpa('/nonexistent/opa', { env: { PATH: process.env.PATH ?? '' } }),
    );
    expect(error.message).toMatch(/opa\.binary \/ OPA_BIN is \/nonexistent\/opa/);
    const viaEnv = await failure(findOpa(undefined, { env: { OPA_BIN: '/nonexistent/opa' } }));
    expect(viaEnv.message).toMatch(/\/nonexistent\/opa/);
  });

  it('uses the configured binary, OPA_BIN, or the project folder', async () => {
    expect((await findOpa(PROJECT_OPA, { env: {} })).path).toBe(PROJECT_OPA);
    const viaEnv = await findOpa(undefined, {
      projectOpa: '/nonexistent/opa',
      env: { OPA_BIN: PROJECT_OPA, PATH: '' },
    });
    expect(viaEnv.path).toBe(PROJECT_OPA);
    expect(viaEnv.version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await findOpa(undefined, { env: { PATH: '' } })).path).toBe(PROJECT_OPA);
  });
});
