import type { Logger } from '../observability/logger.js';
import { LOG } from '../observability/log-messages.js';
import type { PolicyInputs } from '../snapshot/build-snapshot.js';
import { BundlePoller, type BundlePollerOptions } from './bundle/bundle-poller.js';
import type { Bundle } from './bundle/read-bundle.js';
import type { PolicySource } from './sources.js';
import { catalogWithOpenApi } from './openapi/catalog-with-openapi.js';

export type BundlePolicySourceOptions = Omit<BundlePollerOptions, 'onBundle' | 'onError'> & {
  readonly logger: Logger;
  /** OPA-Envoy mode: a bundle without a catalog (plain `opa build`) is delivered as is. */
  readonly catalogOptional?: boolean;
};

/**
 * Policies, data and the API catalog from an OPA bundle server: polled with ETags (and long
 * polling where the server supports it), verified when signing is configured, delivered
 * whole. A bundle the control loop cannot activate is not remembered, so it is fetched again.
 */
export class BundlePolicySource implements PolicySource {
  readonly kind = 'bundle';
  private readonly poller: BundlePoller;
  private deliver: ((inputs: PolicyInputs) => Promise<boolean>) | undefined;
  private lastActivated = false;

  constructor(private readonly options: BundlePolicySourceOptions) {
    const { logger, catalogOptional: _catalogOptional, ...pollerOptions } = options;
    this.poller = new BundlePoller({
      ...pollerOptions,
      onBundle: (bundle) => this.onBundle(bundle),
      onError: (error) => {
        logger.error({ err: error, url: options.url }, LOG.bundleFailed);
      },
    });
  }

  async start(deliver: (inputs: PolicyInputs) => Promise<boolean>): Promise<void> {
    this.deliver = deliver;
    // The first download is awaited, so start-up reports "ready" only after it is built;
    // the poller's schedule takes over from there.
    await this.poller.pollNow();
    this.poller.start();
  }

  stop(): void {
    this.poller.stop();
  }

  async refreshNow(): Promise<boolean> {
    this.lastActivated = false;
    await this.poller.pollNow();
    return this.lastActivated;
  }

  status(): unknown {
    return { kind: this.kind, ...this.poller.status() };
  }

  private async onBundle(bundle: Bundle): Promise<boolean> {
    const catalogFileText =
      bundle.catalogText ??
      catalogFromData(bundle.data) ??
      // OpenAPI documents alone are a catalog too.
      (this.options.catalogOptional === true || bundle.openApiFiles.length > 0 ? '' : undefined);
    if (catalogFileText === undefined) {
      this.options.logger.error(
        { url: this.options.url, revision: bundle.revision, catalogFile: this.options.catalogFile },
        LOG.bundleWithoutCatalog,
      );
      return false;
    }
    // A bad document throws: the poller reports it and the previous bundle keeps serving.
    const catalogText = await catalogWithOpenApi(catalogFileText, bundle.openApiFiles);
    const activated =
      (await this.deliver?.({
        catalogText,
        regoFiles: bundle.regoFiles,
        data: bundle.data,
        wasm: bundle.wasm,
        sourceRevision: bundle.revision === '' ? undefined : bundle.revision,
      })) ?? false;
    this.lastActivated = activated;
    return activated;
  }
}

/**
 * `opa build` packs only Rego and data files, so a bundle built with it carries the catalog
 * as data: `gatehouse/catalog/data.json` (or .yaml), which is `data.gatehouse.catalog`.
 */
function catalogFromData(data: Readonly<Record<string, unknown>>): string | undefined {
  const gatehouse = data.gatehouse;
  if (typeof gatehouse !== 'object' || gatehouse === null) return undefined;
  const catalog = (gatehouse as Record<string, unknown>).catalog;
  return catalog === undefined ? undefined : JSON.stringify(catalog);
}
