// Cache of the activations at a trainable tail's cut (partial and full strategies), stored
// as fp16 within a byte budget: with it an epoch costs only the trainable tail.
import { fromHalf, toHalf } from '../../util/fp16.js';

/**
 * Prefix activations by view key, fp16, up to `budgetBytes`. Entries are never
 * evicted during a run (an epoch touches them all; LRU would thrash): views that
 * do not fit are recomputed from the image each epoch instead.
 */
export class PrefixCache {
  private readonly mem = new Map<string, Uint16Array>();
  private bytes = 0;

  constructor(
    readonly budgetBytes = 256 * 1024 * 1024,
    /** Persistent backing (the embedding store): activations survive restarts and reloads. */
    private readonly store?: { getMany(keys: string[]): Promise<(Uint8Array | undefined)[]>; putMany(e: [string, Uint8Array][]): Promise<void> },
  ) {}

  /** Loads the given keys from the persistent store into memory, within the budget; returns how many were found. */
  async preload(keys: string[]): Promise<number> {
    const want = keys.filter((k) => !this.mem.has(k));
    if (!this.store || !want.length) return 0;
    let found = 0;
    for (let i = 0; i < want.length; i += 256) {
      const chunk = want.slice(i, i + 256);
      const got = await this.store.getMany(chunk);
      got.forEach((b, j) => {
        if (!b || b.byteLength % 2 || this.bytes + b.byteLength > this.budgetBytes) return;
        this.mem.set(chunk[j]!, new Uint16Array(b.slice().buffer));
        this.bytes += b.byteLength;
        found++;
      });
    }
    return found;
  }

  /** Writes entries already in memory through to the persistent store. */
  async persist(keys: string[]): Promise<void> {
    if (!this.store) return;
    const entries = keys.flatMap((k): [string, Uint8Array][] => {
      const h = this.mem.get(k);
      return h ? [[k, new Uint8Array(h.buffer, h.byteOffset, h.byteLength)]] : [];
    });
    if (entries.length) await this.store.putMany(entries);
  }

  /** How many views of `floats` values fit in the budget, counting what is stored already. */
  capacity(floats: number): number {
    return Math.floor(this.budgetBytes / (floats * 2));
  }

  /** Whether entries are written through to a persistent store. */
  get persistent(): boolean {
    return this.store !== undefined;
  }

  has(key: string): boolean {
    return this.mem.has(key);
  }

  /** Stores a view; false (and nothing stored) when over budget. */
  put(key: string, v: Float32Array): boolean {
    if (this.mem.has(key)) return true;
    if (this.bytes + v.length * 2 > this.budgetBytes) return false;
    this.mem.set(key, toHalf(v));
    this.bytes += v.length * 2;
    return true;
  }

  /** The view's fp16 values, if cached (read-only). */
  halves(key: string): Uint16Array | undefined {
    return this.mem.get(key);
  }

  /** Writes the view into `out` at `offset`; false when absent. */
  read(key: string, out: Float32Array, offset: number): boolean {
    const h = this.mem.get(key);
    if (!h) return false;
    fromHalf(h, out.subarray(offset, offset + h.length));
    return true;
  }

  /** Drops every entry not in `keep` (the views of the current run). */
  retain(keep: Set<string>): void {
    for (const [k, v] of this.mem) {
      if (!keep.has(k)) {
        this.mem.delete(k);
        this.bytes -= v.byteLength;
      }
    }
  }

  clear(): void {
    this.mem.clear();
    this.bytes = 0;
  }

  get sizeBytes(): number {
    return this.bytes;
  }
}
