import { describe, expect, it } from 'vitest';
import { findOpa, OpaNotFoundError, PROJECT_OPA } from '../../src/policy/opa-binary.js';

describe('findOpa', () => {
  it('says exactly what to do when opa is nowhere', async () => {
    const error = await findOpa('/nonexistent/opa', {
      projectOpa: '/nonexistent/.tools/bin/opa',
      env: { PATH: '/nonexistent/bin' },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpaNotFoundError);
    expect((error as Error).message).toMatch(/\/nonexistent\/opa/);
    expect((error as Error).message).toMatch(/npm run setup/);
    expect((error as Error).message).toMatch(/OPA_BIN/);
  });

  it('prefers the configured binary, then OPA_BIN, then the project folder', async () => {
    expect((await findOpa(PROJECT_OPA, { env: {} })).path).toBe(PROJECT_OPA);
    const viaEnv = await findOpa(undefined, {
      projectOpa: '/nonexistent/opa',
      env: { OPA_BIN: PROJECT_OPA, PATH: '' },
    });
    expect(viaEnv.path).toBe(PROJECT_OPA);
    expect(viaEnv.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});
