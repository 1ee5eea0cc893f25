import { stat } from 'node:fs/promises';
import type { GatehouseConfig } from '../config/schema.js';

/**
 * Files the config names that must exist before any port opens. A missing policy folder,
 * JWKS file or TLS file is a mistake in the deployment (a volume not mounted, a typo), not an outage:
 * it is refused at start with the option's name. Content that is unreadable or invalid is
 * the sources' business: they report it in /status and retry.
 */
export async function missingConfiguredPaths(config: GatehouseConfig): Promise<string[]> {
  const wanted: Array<{ option: string; file: string; kind: 'folder' | 'file' }> = [];
  if (config.bundle === undefined) {
    wanted.push({ option: 'policies.dir', file: config.policies.dir, kind: 'folder' });
  }
  config.issuers.forEach((issuer, index) => {
    if (issuer.jwksFile !== undefined) {
      wanted.push({ option: `issuers[${index}].jwksFile`, file: issuer.jwksFile, kind: 'file' });
    }
    if (issuer.signerCertificateFile !== undefined) {
      wanted.push({
        option: `issuers[${index}].signerCertificateFile`,
        file: issuer.signerCertificateFile,
        kind: 'file',
      });
    }
  });
  for (const listener of ['grpc', 'http'] as const) {
    const tls = config[listener].tls;
    if (tls === undefined) continue;
    wanted.push({ option: `${listener}.tls.certFile`, file: tls.certFile, kind: 'file' });
    wanted.push({ option: `${listener}.tls.keyFile`, file: tls.keyFile, kind: 'file' });
    if (tls.clientCaFile !== undefined) {
      wanted.push({ option: `${listener}.tls.clientCaFile`, file: tls.clientCaFile, kind: 'file' });
    }
  }
  const problems: string[] = [];
  for (const { option, file, kind } of wanted) {
    const found = await stat(file).catch(() => undefined);
    if (found === undefined) problems.push(`${option}: ${kind} ${file} does not exist`);
    else if (kind === 'folder' && !found.isDirectory())
      problems.push(`${option}: ${file} is not a folder`);
    else if (kind === 'file' && found.isDirectory())
      problems.push(`${option}: ${file} is a folder, not a file`);
  }
  return problems;
}
