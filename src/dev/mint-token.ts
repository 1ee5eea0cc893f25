/**
 * Development helper: prints a JWT signed with the local dev key, which the example
 * config (config/gatehouse.dev.yaml) trusts.
 *
 *   npm run token -- --sub alice --roles reader --scope "orders:read"
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { DEV_AUDIENCE, DEV_ISSUER, ensureDevKey } from './dev-keys.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: 'alice' },
    roles: { type: 'string', default: 'reader' },
    scope: { type: 'string', default: 'orders:read' },
    aud: { type: 'string', default: DEV_AUDIENCE },
    iss: { type: 'string', default: DEV_ISSUER },
    'ttl-s': { type: 'string', default: '3600' },
    'key-dir': { type: 'string', default: path.join(ROOT, '.gatehouse', 'dev') },
  },
});

const key = await ensureDevKey(values['key-dir']);
const now = Math.floor(Date.now() / 1000);
const roles = values.roles.split(',').filter((role) => role !== '');
const token = await new SignJWT({ roles, scope: values.scope })
  .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
  .setIssuer(values.iss)
  .setAudience(values.aud)
  .setSubject(values.sub)
  .setIssuedAt(now)
  .setExpirationTime(now + Number(values['ttl-s']))
  .sign(key.privateKey);
process.stdout.write(`${token}\n`);
