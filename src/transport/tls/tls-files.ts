import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../../observability/logger.js';
import { LOG } from '../../observability/log-messages.js';

/** A listener's TLS files, as the config names them (absolute paths). */
export interface ListenerTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** With it, clients must present a certificate issued by this CA (mTLS). */
  readonly clientCaFile?: string | undefined;
  readonly reloadIntervalS: number;
}

/** The PEM bytes a listener serves with. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
}

export type TlsMaterialListener = (material: TlsMaterial) => void;

/**
 * Certificate, key and client CA read from files, and read again every reloadIntervalS: a
 * renewed certificate (cert-manager, a Kubernetes Secret volume swapping its symlink) is
 * served on new connections without a restart. A change is taken only when the new files
 * form a usable pair (node:tls accepts them); a half-written or mismatched set is logged and
 * the previous material stays in use. Polling, not fs.watch: a Secret volume replaces a
 * symlinked folder, which watchers on the old files never see.
 */
export class TlsFiles {
  private readonly listeners = new Set<TlsMaterialListener>();
  private timer: NodeJS.Timeout | undefined;
  private reading = false;

  private constructor(
    private readonly files: ListenerTlsFiles,
    private readonly logger: Logger,
    private material: TlsMaterial,
  ) {}

  /** Reads the files once; rejects when they are unreadable or not a usable pair. */
  static async load(files: ListenerTlsFiles, logger: Logger): Promise<TlsFiles> {
    return new TlsFiles(files, logger, await readMaterial(files));
  }

  current(): TlsMaterial {
    return this.material;
  }

  /** Called with the new material after each change; the listener applies it. */
  onChange(listener: TlsMaterialListener): void {
    this.listeners.add(listener);
  }

  /** Starts the reload timer (unref'd: it never keeps the process alive). */
  watch(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      void this.reload();
    }, this.files.reloadIntervalS * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  /** Reads the files now; resolves with whether new material was taken. */
  async reload(): Promise<boolean> {
    if (this.reading) return false;
    this.reading = true;
    try {
      const next = await readMaterial(this.files);
      if (sameMaterial(next, this.material)) return false;
      this.material = next;
      this.logger.info({ certFile: this.files.certFile }, LOG.tlsReloaded);
      for (const listener of this.listeners) listener(next);
      return true;
    } catch (error) {
      this.logger.warn({ err: error, certFile: this.files.certFile }, LOG.tlsReloadFailed);
      return false;
    } finally {
      this.reading = false;
    }
  }
}

async function readMaterial(files: ListenerTlsFiles): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all([
    readFile(files.certFile),
    readFile(files.keyFile),
    files.clientCaFile === undefined ? undefined : readFile(files.clientCaFile),
  ]);
  // Throws for a key that does not match the certificate, or PEM that does not parse.
  createSecureContext({ cert, key, ...(ca === undefined ? {} : { ca }) });
  return { cert, key, ca };
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  const sameCa = a.ca === undefined || b.ca === undefined ? a.ca === b.ca : a.ca.equals(b.ca);
  return sameCa && a.cert.equals(b.cert) && a.key.equals(b.key);
}
