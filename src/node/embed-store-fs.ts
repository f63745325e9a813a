// A persistent embedding store on disk for Node and the CLI: one small file per
// key, written atomically (temp file + rename) so a crash never leaves a torn entry.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EmbeddingStore } from '../engine/data/embed-cache.js';

export class FileEmbeddingStore implements EmbeddingStore {
  constructor(readonly dir: string) {}

  async getMany(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    return Promise.all(
      keys.map(async (k) => {
        try {
          return new Uint8Array(await readFile(join(this.dir, `${k}.h16`)));
        } catch {
          return undefined;
        }
      }),
    );
  }

  async putMany(entries: [string, Uint8Array][]): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await Promise.all(
      entries.map(async ([k, v]) => {
        const path = join(this.dir, `${k}.h16`);
        const tmp = `${path}.${process.pid}.tmp`;
        await writeFile(tmp, v);
        await rename(tmp, path);
      }),
    );
  }

  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
