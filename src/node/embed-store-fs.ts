// A persistent embedding store on disk for Node and the CLI: one small file per
// key, written atomically (a temp file of its own + rename) so a crash never
// leaves a torn entry. A cache is an optimisation: a failed write is reported
// once through onError and never fails the run.
import { randomUUID } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EmbeddingStore } from '../engine/data/embed-cache.js';
import { readBoundedFile } from './files.js';
import { mkdirs } from './mkdirs.js';

/** An entry is an fp16 embedding or a view's prefix activations: kilobytes, never this much. */
const ENTRY_MAX_BYTES = 16 * 1024 * 1024;

export interface FileEmbeddingStoreOptions {
  /** Called once, on the first write that fails; later writes are skipped. @default ignore */
  onError?: (err: Error) => void;
}

export class FileEmbeddingStore implements EmbeddingStore {
  private failed = false;

  constructor(
    readonly dir: string,
    private readonly opts: FileEmbeddingStoreOptions = {},
  ) {}

  async getMany(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    return Promise.all(keys.map((k) => readBoundedFile(join(this.dir, `${k}.h16`), ENTRY_MAX_BYTES, 'cache entry').catch(() => undefined)));
  }

  async putMany(entries: [string, Uint8Array][]): Promise<void> {
    if (this.failed) return;
    // Identical images have one key: write it once.
    const unique = new Map(entries);
    try {
      await mkdirs(this.dir);
      await Promise.all(
        [...unique].map(async ([k, v]) => {
          const path = join(this.dir, `${k}.h16`);
          const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`;
          try {
            await writeFile(tmp, v);
            await rename(tmp, path);
          } catch (err) {
            await rm(tmp, { force: true }).catch(() => undefined);
            throw err;
          }
        }),
      );
    } catch (err) {
      this.failed = true;
      this.opts.onError?.(err as Error);
    }
  }

  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
