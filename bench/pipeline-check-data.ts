/**
 * Prints (as ghz's --data JSON) a CheckRequest that the example catalog and policies allow:
 * GET /orders/42 on api.example.com with a dev-issuer RS256 token (roles reader, scope
 * orders:read), the headers Envoy sends. For bench/grpc-transport.ts with BENCH_PIPELINE=1.
 *
 *   node --import tsx bench/pipeline-check-data.ts > data.json
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { DEV_AUDIENCE, DEV_ISSUER, ensureDevKey } from '../src/dev/dev-keys.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const key = await ensureDevKey(path.join(root, '.gatehouse', 'dev'));
const token = await new SignJWT({ roles: ['reader'], scope: 'orders:read' })
  .setProtectedHeader({ alg: 'RS256', kid: key.kid })
  .setIssuer(DEV_ISSUER)
  .setAudience(DEV_AUDIENCE)
  .setSubject('alice')
  .setExpirationTime('2h')
  .sign(key.privateKey);
const headers = {
  ':authority': 'api.example.com',
  ':method': 'GET',
  ':path': '/orders/42?expand=items',
  ':scheme': 'https',
  'user-agent': 'bench',
  accept: 'application/json',
  'x-request-id': 'ab-1',
  authorization: `Bearer ${token}`,
};
process.stdout.write(
  JSON.stringify({
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.1', port_value: 40000 } } },
      destination: { address: { socket_address: { address: '10.0.0.2', port_value: 8080 } } },
      request: {
        http: {
          id: 'ab-1',
          method: 'GET',
          path: '/orders/42?expand=items',
          host: 'api.example.com',
          scheme: 'https',
          protocol: 'HTTP/1.1',
          headers,
        },
      },
    },
  }),
);
