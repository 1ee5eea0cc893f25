import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, type JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { IssuerKeys } from '../../../src/auth/issuer-keys.js';
import { IssuerKeySource } from '../../../src/sync/oidc/issuer-key-source.js';
import {
  createSigningKey,
  ORDERS_JWT_ACCESS_TOKENS,
  startAuthorizationServer,
  type AuthorizationServer,
} from '../../helpers/authorization-server.js';
import { issuerConfig, verifyWith } from './issuer-config.js';

// One real oidc-provider per test: it issues the tokens (client_credentials, JWT access
// tokens) and publishes the keys; the source finds them through discovery.

let provider: AuthorizationServer;
let firstKey: JWK;
const sources: IssuerKeySource[] = [];

beforeEach(async () => {
  firstKey = await createSigningKey('key-2024');
  provider = await startAuthorizationServer({
    ...ORDERS_JWT_ACCESS_TOKENS,
    keys: [firstKey],
  });
});
afterEach(async () => {
  vi.useRealTimers();
  for (const source of sources.splice(0)) source.stop();
  await provider.stop();
});

function discoverySource(
  options: Partial<ConstructorParameters<typeof IssuerKeySource>[0]> = {},
): IssuerKeySource {
  const source = new IssuerKeySource({
    config: issuerConfig(provider.issuer),
    timeoutMs: 2000,
    ...options,
  });
  sources.push(source);
  return source;
}

describe('IssuerKeySource with discovery', () => {
  it('loads the keys and verifies a token the provider issued', async () => {
    const source = discoverySource();
    expect(await source.start()).toBe(true);

    const token = await provider.issueToken();
    expect(decodeProtectedHeader(token)).toMatchObject({ kid: 'key-2024', typ: 'at+jwt' });
    const result = await verifyWith(token, source.current());
    expect(result).toMatchObject({ ok: true, issuer: provider.issuer });

    const status = source.status();
    expect(status).toMatchObject({
      issuer: provider.issuer,
      jwksUri: `${provider.issuer}/jwks`,
      keyIds: ['key-2024'],
      lastError: undefined,
      fetches: 1,
    });
    expect(status.nextAttemptAt).toBeGreaterThan(Date.now() + 250_000);
    expect(provider.hits('/.well-known/openid-configuration')).toBe(1);
    expect(provider.hits('/jwks')).toBe(1);
  });

  it('passes the supplied headers to every request', async () => {
    const source = discoverySource({
      headers: () => Promise.resolve({ authorization: 'Bearer from-an-oauth-client' }),
    });
    await source.start();
    expect(provider.lastHeaders('/.well-known/openid-configuration')?.authorization).toBe(
      'Bearer from-an-oauth-client',
    );
    expect(provider.lastHeaders('/jwks')?.authorization).toBe('Bearer from-an-oauth-client');
  });

  it('follows a key rotation: after one refresh the removed key is unknown and the new one verifies', async () => {
    const source = discoverySource();
    const changes: IssuerKeys[] = [];
    source.onChange((keys) => changes.push(keys));
    await source.start();
    const oldToken = await provider.issueToken();

    // The provider restarts with a new key set; the old key is gone.
    provider.use([await createSigningKey('key-2025')]);
    const newToken = await provider.issueToken();
    expect(decodeProtectedHeader(newToken).kid).toBe('key-2025');
    expect(await verifyWith(newToken, source.current())).toMatchObject({
      ok: false,
      code: 'GH_ERR_TOKEN_KEY_UNKNOWN',
    });

    expect(await source.refresh()).toBe(true);
    expect(source.status()).toMatchObject({ keyIds: ['key-2025'], fetches: 2 });
    expect(await verifyWith(oldToken, source.current())).toMatchObject({
      ok: false,
      code: 'GH_ERR_TOKEN_KEY_UNKNOWN',
    });
    expect(await verifyWith(newToken, source.current())).toMatchObject({ ok: true });
    expect(changes.map((keys) => keys.keyIds)).toEqual([['key-2024'], ['key-2025']]);
  });

  it('does not report a change when a refresh brings the same keys', async () => {
    const source = discoverySource();
    let changes = 0;
    source.onChange(() => (changes += 1));
    await source.start();
    const before = source.current();
    await source.refresh();
    expect(changes).toBe(1);
    expect(source.current()).toBe(before);
    expect(source.status().fetches).toBe(2);
  });
  it('keeps updating when a change listener throws', async () => {
    const source = discoverySource();
    source.onChange(() => {
      throw new Error('a broken listener');
    });
    const seen: string[][] = [];
    source.onChange((keys) => seen.push([...keys.keyIds]));
    expect(await source.start()).toBe(true);
    provider.use([await createSigningKey('key-2025')]);
    expect(await source.refresh()).toBe(true);
    expect(seen).toEqual([['key-2024'], ['key-2025']]);
    expect(source.status().lastError).toBeUndefined();
  });
});

describe('refreshForUnknownKid', () => {
  // Only Date is faked: the cooldown is measured with Date.now, while sockets and
  // undici's timers keep running on real time.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date());
  });
  const passCooldown = (seconds = 31): void => {
    vi.setSystemTime(Date.now() + seconds * 1000);
  };
  const flood = (source: IssuerKeySource, count = 200): Promise<boolean[]> =>
    Promise.all(Array.from({ length: count }, () => source.refreshForUnknownKid(randomUUID())));

  it('answers a flood of 200 random kids with at most one fetch, then none within the 30 s cooldown', async () => {
    const source = discoverySource();
    await source.start();
    expect(source.status().fetches).toBe(1);

    // Right after the start the cooldown holds: not a single request.
    expect(await flood(source)).not.toContain(true);
    expect(source.status().fetches).toBe(1);

    passCooldown();
    expect(await flood(source)).not.toContain(true);
    expect(source.status().fetches).toBe(2);
    expect(provider.hits('/jwks')).toBe(2);

    for (let round = 0; round < 3; round += 1) {
      passCooldown(9); // 27 s after the last fetch, still inside the default 30 s
      expect(await flood(source)).not.toContain(true);
    }
    expect(source.status().fetches).toBe(2);
    expect(provider.hits('/jwks')).toBe(2);

    passCooldown(4);
    await flood(source);
    expect(source.status().fetches).toBe(3);
    expect(provider.hits('/jwks')).toBe(3);
    // Metadata is discovered once, not per refresh.
    expect(provider.hits('/.well-known/openid-configuration')).toBe(1);
  });

  it('finds a rotated-in kid once the cooldown has passed, in one fetch for all callers', async () => {
    const source = discoverySource();
    await source.start();
    provider.use([firstKey, await createSigningKey('key-2025')]);

    expect(await source.refreshForUnknownKid('key-2025')).toBe(false);
    expect(source.status().fetches).toBe(1);

    passCooldown();
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => source.refreshForUnknownKid('key-2025')),
    );
    expect(answers.every(Boolean)).toBe(true);
    expect(source.status()).toMatchObject({ fetches: 2, keyIds: ['key-2024', 'key-2025'] });
    // A kid that is known costs nothing, cooldown or not.
    expect(await source.refreshForUnknownKid('key-2024')).toBe(true);
    expect(source.status().fetches).toBe(2);
  });

  it('honours a configured cooldown', async () => {
    const source = discoverySource({ unknownKidCooldownS: 1 });
    await source.start();
    await flood(source, 20);
    expect(source.status().fetches).toBe(1);
    passCooldown(1);
    await flood(source, 20);
    expect(source.status().fetches).toBe(2);
  });
});

describe('failures', () => {
  it('keeps the previous keys while the JWKS endpoint fails, and backs off exponentially up to the interval', async () => {
    const source = discoverySource({ backoffBaseS: 1, refreshIntervalS: 10 });
    await source.start();
    const token = await provider.issueToken();

    provider.failJwks(500);
    const delays: number[] = [];
    for (let failure = 1; failure <= 6; failure += 1) {
      // Each retry is forced right away; the scheduled one (at least 500 ms away) never fires.
      expect(await source.refresh()).toBe(false);
      const status = source.status();
      expect(status.consecutiveFailures).toBe(failure);
      expect(status.lastError?.code).toBe('GH_OIDC_JWKS_FETCH_FAILED');
      expect(status.keyIds).toEqual(['key-2024']);
      delays.push((status.nextAttemptAt ?? 0) - (status.lastErrorAt ?? 0));
    }
    // Equal jitter: failure n waits between half and all of min(2^(n-1) s, 10 s).
    const steps = [1000, 2000, 4000, 8000, 10_000, 10_000];
    delays.forEach((delay, index) => {
      const step = steps[index] ?? 0;
      expect(delay).toBeGreaterThanOrEqual(step / 2);
      expect(delay).toBeLessThanOrEqual(step + 50);
    });
    for (let index = 1; index < 4; index += 1) {
      expect(delays[index]).toBeGreaterThanOrEqual(delays[index - 1] ?? 0);
    }
    expect(await verifyWith(token, source.current())).toMatchObject({ ok: true });

    // Recovery: the next success clears the failure count and goes back to the interval.
    provider.failJwks(undefined);
    expect(await source.refresh()).toBe(true);
    const status = source.status();
    expect(status.consecutiveFailures).toBe(0);
    expect(status.nextAttemptAt).toBeGreaterThanOrEqual(Date.now() + 8_900);
    expect((status.lastSuccessAt ?? 0) > (status.lastErrorAt ?? 0)).toBe(true);
  });

  it('keeps the previous keys when the provider is gone', async () => {
    const source = discoverySource();
    await source.start();
    const token = await provider.issueToken();
    await provider.stop();

    expect(await source.refresh()).toBe(false);
    expect(source.status().lastError?.code).toBe('GH_OIDC_JWKS_FETCH_FAILED');
    // After a failure the metadata is discovered again (the jwks_uri may have moved).
    expect(await source.refresh()).toBe(false);
    expect(source.status().lastError?.code).toBe('GH_OIDC_DISCOVERY_FAILED');
    expect(await verifyWith(token, source.current())).toMatchObject({ ok: true });
  });

  it('starts without keys when the first load fails, and retries on the backoff schedule', async () => {
    provider.failJwks(503);
    const source = discoverySource({ backoffBaseS: 0.1 });
    expect(await source.start()).toBe(false);
    expect(source.current()).toBeUndefined();
    provider.failJwks(undefined);
    // The scheduled retry (50 to 100 ms away) loads the keys without help.
    await vi.waitFor(() => {
      expect(source.status().keyIds).toEqual(['key-2024']);
    });
    expect(source.status().fetches).toBe(2);
  });
});
