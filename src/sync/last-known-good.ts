import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { JSONWebKeySet } from 'jose';
import type { RegoFile } from '../policy/compile-wasm.js';

/**
 * The inputs of the last activated snapshot, kept on disk so a restart can serve at once,
 * before (or without) reaching the central server.
 *
 * Integrity: the file carries a digest of its payload. With a key (persistence.hmacKeyEnv)
 * it is an HMAC-SHA256, which also detects deliberate tampering by anyone without the key;
 * without one it is a plain SHA-256, which detects corruption (a torn write, a bad disk)
 * only. A file that fails the check is ignored, never loaded.
 */

export interface PersistedPolicy {
  readonly catalogText: string;
  readonly regoFiles: readonly RegoFile[];
  readonly data: unknown;
  /** base64 of a bundle's precompiled policy.wasm, when it had one. */
  readonly wasmBase64?: string | undefined;
  readonly sourceRevision?: string | undefined;
}

export interface PersistedState {
  readonly savedAt: string;
  readonly policy: PersistedPolicy;
  /** JWKS per issuer, as last loaded. */
  readonly issuers: Readonly<Record<string, JSONWebKeySet>>;
  /**
   * When each issuer's keys were last loaded (ISO 8601), so restored keys keep their age
   * for maxKeyStalenessS: a restart must not make old keys look fresh. Absent in files of
   * earlier versions: their keys' age is unknown.
   */
  readonly keysLoadedAt?: Readonly<Record<string, string>>;
}

interface Envelope {
  readonly format: 'gatehouse-last-known-good';
  readonly version: 1;
  readonly digestAlgorithm: 'sha256' | 'hmac-sha256';
  readonly digest: string;
  /** The state as JSON text: the digest covers these exact bytes. */
  readonly payload: string;
}

export type LoadResult =
  | { readonly ok: true; readonly state: PersistedState }
  | { readonly ok: false; readonly reason: string; readonly missing: boolean };

const FILE_NAME = 'last-known-good.json';

export class LastKnownGoodStore {
  private readonly file: string;

  constructor(
    readonly dir: string,
    private readonly hmacKey: Buffer | undefined,
  ) {
    this.file = path.join(dir, FILE_NAME);
  }

  /** Writes the state atomically: a crash mid-write leaves the previous file intact. */
  async save(state: PersistedState): Promise<void> {
    const payload = JSON.stringify(state);
    const envelope: Envelope = {
      format: 'gatehouse-last-known-good',
      version: 1,
      digestAlgorithm: this.hmacKey === undefined ? 'sha256' : 'hmac-sha256',
      digest: this.digest(payload),
      payload,
    };
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const partial = `${this.file}.${randomUUID()}.partial`;
    await writeFile(partial, JSON.stringify(envelope), { mode: 0o600 });
    await rename(partial, this.file);
  }

  async load(): Promise<LoadResult> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return { ok: false, reason: `no ${FILE_NAME} in ${this.dir}`, missing: true };
    }
    let envelope: Partial<Envelope>;
    try {
      envelope = JSON.parse(text) as Partial<Envelope>;
    } catch {
      return { ok: false, reason: `${this.file} is not valid JSON (corrupt)`, missing: false };
    }
    if (envelope.format !== 'gatehouse-last-known-good' || envelope.version !== 1) {
      return {
        ok: false,
        reason: `${this.file} is not a version-1 last-known-good file`,
        missing: false,
      };
    }
    const expectedAlgorithm = this.hmacKey === undefined ? 'sha256' : 'hmac-sha256';
    if (envelope.digestAlgorithm !== expectedAlgorithm) {
      // A file written without the key must not pass when a key is configured.
      return {
        ok: false,
        reason: `${this.file} has a ${String(envelope.digestAlgorithm)} digest, expected ${expectedAlgorithm}`,
        missing: false,
      };
    }
    if (typeof envelope.payload !== 'string' || typeof envelope.digest !== 'string') {
      return { ok: false, reason: `${this.file} has no payload or digest`, missing: false };
    }
    const actual = Buffer.from(this.digest(envelope.payload), 'hex');
    const claimed = Buffer.from(envelope.digest, 'hex');
    if (actual.length !== claimed.length || !timingSafeEqual(actual, claimed)) {
      return {
        ok: false,
        reason: `${this.file} failed its integrity check (corrupt or tampered)`,
        missing: false,
      };
    }
    try {
      return { ok: true, state: JSON.parse(envelope.payload) as PersistedState };
    } catch {
      return { ok: false, reason: `${this.file} payload is not valid JSON`, missing: false };
    }
  }

  private digest(payload: string): string {
    return this.hmacKey === undefined
      ? createHash('sha256').update(payload).digest('hex')
      : createHmac('sha256', this.hmacKey).update(payload).digest('hex');
  }
}
