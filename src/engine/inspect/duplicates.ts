// Duplicates: the same bytes (content hash), or the same picture resized,
// recompressed or lightly cropped (cosine similarity of the backbone's
// embeddings at or above a threshold, measured in bench/inspect.mjs). Groups are
// the connected components of the pairs, found with a union-find.
import * as tf from '@tensorflow/tfjs-core';

export const NEAR_DUPLICATE_THRESHOLD = 0.9;

class UnionFind {
  private readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
  }
  find(i: number): number {
    while (this.parent[i] !== i) i = this.parent[i] = this.parent[this.parent[i]!]!;
    return i;
  }
  union(a: number, b: number): void {
    this.parent[this.find(a)] = this.find(b);
  }
}

export interface RawGroup {
  members: number[];
  kind: 'exact' | 'near';
  /** Lowest similarity of a pair that joined the group. */
  similarity: number;
}

/** Groups of equal hashes. */
export function exactGroups(hashes: readonly string[]): RawGroup[] {
  const by = new Map<string, number[]>();
  hashes.forEach((h, i) => by.set(h, [...(by.get(h) ?? []), i]));
  return [...by.values()].filter((m) => m.length > 1).map((members) => ({ members, kind: 'exact' as const, similarity: 1 }));
}

/** Neighbours whose similarity describes how alike an image's look-alikes are (its k-th nearest). */
export const TYPICAL_NEIGHBOUR = 5;
/**
 * A near duplicate must be at least this much closer (in 1 - cosine) than the
 * typical neighbour of both images: copies stand out from look-alikes.
 */
export const NEAR_DUPLICATE_RATIO = 0.5;

/** Each row's nearest other rows: `width` places per row (index -1 past the end), most similar first. */
export interface Neighbours {
  width: number;
  index: Int32Array;
  sim: Float32Array;
}

/**
 * The `k` nearest rows of every row (L2-normalized, [n, dim]) by cosine, leaving
 * out the row itself and its exact copies (equal hash): a top-k per block of rows
 * of the product with the pre-transposed matrix (at most 16M similarities held).
 */
export function nearestNeighbours(unit: Float32Array, dim: number, k: number, hashes: readonly string[]): Neighbours {
  const n = unit.length / dim;
  // A few spare places for the image itself and its exact copies.
  const width = Math.min(n, k + 8);
  const index = new Int32Array(n * k).fill(-1);
  const sim = new Float32Array(n * k).fill(-1);
  const all = tf.tensor2d(unit, [n, dim]);
  // Transposed once: tfjs-backend-wasm's matMul with a transposed operand is ~5x slower.
  const allT = tf.transpose(all);
  try {
    const block = Math.max(1, Math.min(512, Math.floor((1 << 24) / n)));
    for (let start = 0; start < n; start += block) {
      const rows = Math.min(block, n - start);
      const [values, indices] = tf.tidy(() => {
        const top = tf.topk(tf.matMul(tf.slice(all, [start, 0], [rows, dim]), allT), width);
        return [top.values.dataSync() as Float32Array, top.indices.dataSync() as Int32Array];
      });
      for (let r = 0; r < rows; r++) {
        const i = start + r;
        let kept = 0;
        for (let c = 0; c < width && kept < k; c++) {
          const j = indices[r * width + c]!;
          if (j === i || hashes[j] === hashes[i]) continue;
          index[i * k + kept] = j;
          sim[i * k + kept++] = values[r * width + c]!;
        }
      }
    }
  } finally {
    all.dispose();
    allT.dispose();
  }
  return { width: k, index, sim };
}

/** Pairs [i < j, cosine] where one is among the other's nearest and the cosine is at least `floor`. */
export function neighbourPairs(nb: Neighbours, floor: number): [number, number, number][] {
  const pairs = new Map<string, [number, number, number]>();
  for (let p = 0; p < nb.index.length; p++) {
    const i = Math.floor(p / nb.width);
    const j = nb.index[p]!;
    if (j < 0 || nb.sim[p]! < floor) continue;
    const [a, b] = i < j ? [i, j] : [j, i];
    pairs.set(`${a},${b}`, [a, b, nb.sim[p]!]);
  }
  return [...pairs.values()];
}

/**
 * Pairs of rows (L2-normalized, [n, dim]) that are near duplicates by their
 * embeddings alone: cosine >= threshold, and 1 - cosine at most
 * NEAR_DUPLICATE_RATIO times 1 - the k-th nearest neighbour's cosine of either
 * image. The second test keeps data of look-alike images (tiny grey product
 * shots, generated patterns, where distinct images are as close as re-encoded
 * copies) from being reported as thousands of duplicates. A near duplicate that
 * passes it is among each image's nearest few, so a top-k per row replaces a
 * scan of every pair.
 */
export function similarPairs(unit: Float32Array, dim: number, threshold: number, hashes: readonly string[]): [number, number, number][] {
  const n = unit.length / dim;
  const k = Math.min(TYPICAL_NEIGHBOUR, n - 1);
  const nb = nearestNeighbours(unit, dim, k + 8, hashes);
  const typical = new Float32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    let last = -1;
    for (let c = 0; c < k; c++) if (nb.index[i * nb.width + c]! >= 0) last = nb.sim[i * nb.width + c]!;
    typical[i] = last;
  }
  return neighbourPairs(nb, threshold).filter(([i, j, s]) => 1 - s <= NEAR_DUPLICATE_RATIO * (1 - Math.max(typical[i]!, typical[j]!)));
}

/** Near-duplicate groups from the pairs, leaving out groups that are exact copies only. */
export function nearGroups(n: number, pairs: [number, number, number][], hashes: readonly string[]): RawGroup[] {
  const uf = new UnionFind(n);
  const low = new Map<number, number>();
  for (const [a, b] of pairs) if (hashes[a] !== hashes[b]) uf.union(a, b);
  const groups = new Map<number, number[]>();
  for (const [a, b, s] of pairs) {
    if (hashes[a] === hashes[b]) continue;
    const root = uf.find(a);
    low.set(root, Math.min(low.get(root) ?? 1, s));
  }
  for (let i = 0; i < n; i++) {
    const root = uf.find(i);
    if (low.has(root)) groups.set(root, [...(groups.get(root) ?? []), i]);
  }
  return [...groups.entries()].map(([root, members]) => ({ members, kind: 'near' as const, similarity: low.get(root)! }));
}
