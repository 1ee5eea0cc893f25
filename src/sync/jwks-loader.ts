import { readFile } from 'node:fs/promises';
import {
  asJsonWebKeySet,
  buildIssuerKeys,
  KeySetError,
  type IssuerKeys,
} from '../auth/issuer-keys.js';
import type { IssuerConfig } from '../config/schema.js';
import { fetchBytes } from './http-fetch.js';

export interface JwksLoadOptions {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly env: NodeJS.ProcessEnv;
}

/**
 * Loads one issuer's verification keys from its JWKS file or URL (and its HMAC secret
 * from the environment). Runs in the control loop only, never on the check path.
 */
export async function loadIssuerKeys(
  issuer: IssuerConfig,
  options: JwksLoadOptions,
): Promise<IssuerKeys> {
  const secret = issuer.hmacSecretEnv === undefined ? undefined : options.env[issuer.hmacSecretEnv];
  if (issuer.jwksFile !== undefined) {
    let text: string;
    try {
      text = await readFile(issuer.jwksFile, 'utf8');
    } catch (error) {
      throw new KeySetError(
        `cannot read JWKS file ${issuer.jwksFile} for ${issuer.issuer}: ${String(error)}`,
        {
          cause: error,
        },
      );
    }
    return buildIssuerKeys(
      issuer,
      asJsonWebKeySet(parseJson(text, issuer.jwksFile), issuer.jwksFile),
      secret,
    );
  }
  if (issuer.jwksUrl !== undefined) {
    const text = await fetchText(issuer.jwksUrl, options);
    return buildIssuerKeys(
      issuer,
      asJsonWebKeySet(parseJson(text, issuer.jwksUrl), issuer.jwksUrl),
      secret,
    );
  }
  return buildIssuerKeys(issuer, undefined, secret);
}

async function fetchText(url: string, options: JwksLoadOptions): Promise<string> {
  try {
    const response = await fetchBytes(url, {
      headers: { accept: 'application/jwk-set+json, application/json' },
      timeoutMs: options.timeoutMs,
      maxBytes: options.maxBytes,
    });
    if (response.status !== 200) {
      throw new KeySetError(`JWKS ${url} answered HTTP ${response.status}`);
    }
    return response.body.toString('utf8');
  } catch (error) {
    if (error instanceof KeySetError) throw error;
    throw new KeySetError(`cannot fetch JWKS ${url}: ${String(error)}`, { cause: error });
  }
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new KeySetError(`${source} is not valid JSON`, { cause: error });
  }
}
