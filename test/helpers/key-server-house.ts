import type { Client } from '@grpc/grpc-js';
import type { JSONWebKeySet } from 'jose';
import { afterEach } from 'vitest';
import { connect } from '../transport/grpc/grpc-test-client.js';
import { startJwksServer, type JwksServer } from './jwks-server.js';
import {
  startTestGatehouse,
  type TestGatehouse,
  type TestGatehouseOptions,
} from './test-gatehouse.js';

/**
 * A real Gatehouse asked through gRPC and every HTTP door, in front of real key servers on
 * loopback: the setup the key-set suites (key-set-sanity, key-staleness) share. What a test
 * starts goes into `cleanups`, stopped newest first after it.
 */

export type Cleanups = Array<() => Promise<void> | void>;

/** A list of cleanups run newest first after each test of the calling file. */
export function cleanupsAfterEach(): Cleanups {
  const cleanups: Cleanups = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}

export interface House {
  readonly t: TestGatehouse;
  readonly grpc: Client;
}

/** /nginx and /traefik answer only trusted proxies: the test is one. */
export const TRUSTING_HTTP = { host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1/32'] };

/** Gatehouse with `options` (HTTP trusting the test) and a gRPC client, both stopped after. */
export async function startHouse(
  cleanups: Cleanups,
  options: TestGatehouseOptions,
): Promise<House> {
  const t = await startTestGatehouse({
    ...options,
    config: { http: TRUSTING_HTTP, ...options.config },
  });
  const house = { t, grpc: connect(t.gatehouse.grpcPort ?? 0) };
  cleanups.push(() => stopHouse(house));
  return house;
}

export async function stopHouse(house: House): Promise<void> {
  house.grpc.close();
  await house.t.close();
}

/** A JWKS server publishing `jwks`, closed after the test. */
export async function startKeyServer(cleanups: Cleanups, jwks: JSONWebKeySet): Promise<JwksServer> {
  const server = await startJwksServer(jwks);
  cleanups.push(() => server.close());
  return server;
}
