// Content-addressed embedding cache: a backbone forward pass per image view is
// computed once, then reused across epochs, fineTune calls and (with a
// persistent store) across processes or page reloads.
import type { Backbone } from '../model/backbone.js';
import { decodeHalf, encodeHalf } from '../util/fp16.js';
import { PREPROCESS_VERSION } from './preprocess.js';

/**
 * A persistent key-value store of byte strings (on disk in Node, IndexedDB in
 * the browser). Embeddings and prefix activations are stored in it as fp16.
 */
export interface EmbeddingStore {
  getMany(keys: string[]): Promise<(Uint8Array | undefined)[]>;
  putMany(entries: [string, Uint8Array][]): Promise<void>;
  clear(): Promise<void>;
}

/** The cache key of one view of one image for one exact backbone and preprocessing. */
export function embeddingKey(bb: Backbone, imageHash: string, view: number): string {
  return `${bb.manifest.id}-${bb.manifestHash.slice(0, 16)}-p${PREPROCESS_VERSION}-${imageHash}-${view}`;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
}

/**
 * In-memory LRU (by bytes) in front of an optional persistent store.
 * @param budgetBytes memory budget. @default 256 MiB
 */
export class EmbeddingCache {
  private readonly mem = new Map<string, Float32Array>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    readonly budgetBytes = 256 * 1024 * 1024,
    private readonly store?: EmbeddingStore,
  ) {}

  async getMany(keys: string[]): Promise<(Float32Array | undefined)[]> {
    const out: (Float32Array | undefined)[] = keys.map((k) => this.touch(k));
    const missing = keys.flatMap((k, i) => (out[i] ? [] : [i]));
    if (this.store && missing.length) {
      const found = await this.store.getMany(missing.map((i) => keys[i]!));
      missing.forEach((i, j) => {
        const v = decodeHalf(found[j]);
        if (v) {
          out[i] = v;
          this.remember(keys[i]!, v);
        }
      });
    }
    for (const v of out) v ? this.hits++ : this.misses++;
    return out;
  }

  async putMany(entries: [string, Float32Array][]): Promise<void> {
    for (const [k, v] of entries) this.remember(k, v);
    await this.store?.putMany(entries.map(([k, v]) => [k, encodeHalf(v)]));
  }

  async clear(): Promise<void> {
    this.mem.clear();
    this.bytes = 0;
    await this.store?.clear();
  }

  stats(): CacheStats {
    return { entries: this.mem.size, bytes: this.bytes, hits: this.hits, misses: this.misses };
  }

  private touch(key: string): Float32Array | undefined {
    const v = this.mem.get(key);
    if (v) {
      // Re-insert: Map iteration order is the LRU order.
      this.mem.delete(key);
      this.mem.set(key, v);
    }
    return v;
  }

  private remember(key: string, v: Float32Array): void {
    const old = this.mem.get(key);
    if (old) this.bytes -= old.byteLength;
    this.mem.delete(key);
    this.mem.set(key, v);
    this.bytes += v.byteLength;
    for (const [k, e] of this.mem) {
      if (this.bytes <= this.budgetBytes) break;
      this.mem.delete(k);
      this.bytes -= e.byteLength;
    }
  }
}
