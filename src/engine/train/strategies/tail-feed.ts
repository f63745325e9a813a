// What a trainable tail reads: the activations at its cut for every view of the
// run, cached as fp16 within a budget (filled by a tap on the embedding pass),
// and recomputed from the image for views over the budget.
import * as tf from '@tensorflow/tfjs-core';
import type { PrefixCacheInfo, ResolvedTrainConfig } from '../../../types.js';
import { cutKey, boxOf, type ActivationTap, type Embedded, type Embedder } from '../../data/embed.js';
import type { EmbeddingStore } from '../../data/embed-cache.js';
import { tensorFromHalves } from '../../kernels/wasm-kernels.js';
import type { Tail } from '../../model/tail.js';
import type { TailFeed } from '../loop.js';
import { PrefixCache } from './prefix-cache.js';

/** One run's plan: the cache key of every row's activations, the embedding pass's tap, what fits. */
export interface ActivationPlan {
  keys: string[];
  tap: ActivationTap;
  info: PrefixCacheInfo;
}

/**
 * The activation caches of the tail strategies, kept across runs (a second
 * fineTune on the same examples reads them back). Activations inside the
 * network persist in the embedding store; the model's input itself does not
 * (recomputing it costs a decode, storing it 300 KB a view).
 */
export class ActivationStore {
  private cache: PrefixCache;

  constructor(private readonly store: EmbeddingStore | undefined) {
    this.cache = new PrefixCache(undefined, store);
  }

  /** Keeps this run's views, loads what the persistent store has, and picks the rows to fill (up to the budget, in row order). */
  async plan(embeddingKeys: string[], tail: Tail, budgetBytes: number): Promise<ActivationPlan> {
    const cut = tail.cut;
    const keys = embeddingKeys.map((k) => cutKey(k, cut.node));
    const store = cut.input ? undefined : this.store;
    if (this.cache.budgetBytes !== budgetBytes || this.cache.persistent !== !!store) this.cache = new PrefixCache(budgetBytes, store);
    this.cache.retain(new Set(keys));
    const capacity = this.cache.capacity(cut.shape[0] * cut.shape[1] * cut.shape[2]);
    await this.cache.preload(keys.slice(0, capacity));
    const want = new Set<number>();
    keys.slice(0, capacity).forEach((k, row) => !this.cache.has(k) && want.add(row));
    const cached = Math.min(keys.length, capacity);
    const tap: ActivationTap = {
      cut,
      wants: (row) => want.has(row),
      take: async (rows, values) => {
        rows.forEach((r, j) => this.cache.put(keys[r]!, values[j]!));
        await this.cache.persist(rows.map((r) => keys[r]!));
      },
    };
    return { keys, tap, info: { cached, recomputed: keys.length - cached, budgetBytes } };
  }

  /** The tail's batches of activations for rows of the run's view table. */
  feed(tail: Tail, emb: Embedded, keys: string[], embedder: Embedder, cfg: ResolvedTrainConfig, microBatch?: number): TailFeed {
    const [h, w, c] = tail.cut.shape;
    const per = h * w * c;
    return {
      tail,
      lrRatio: cfg.backboneLearningRate / cfg.learningRate,
      ...(microBatch ? { microBatch } : {}),
      batch: async (rows) => {
        // All cached (the usual case): decoded straight into a WASM tensor where possible.
        const halves = rows.map((r) => this.cache.halves(keys[r]!));
        if (halves.every((x): x is Uint16Array => x !== undefined)) {
          const t = tensorFromHalves(halves, [rows.length, h, w, c]);
          if (t) return t as tf.Tensor4D;
        }
        const buf = new Float32Array(rows.length * per);
        const missing = rows.flatMap((r, j) => (this.cache.read(keys[r]!, buf, j * per) ? [] : [j]));
        if (missing.length) {
          const views = await Promise.all(
            missing.map(async (j) => {
              const { example, view } = emb.rowSource[rows[j]!]!;
              const src = emb.sources[example]!;
              const img = await src.load();
              return { img, box: boxOf(src.hash, view, img) };
            }),
          );
          const data = await embedder.activations(views, tail.cut);
          missing.forEach((j, k) => buf.set(data.subarray(k * per, (k + 1) * per), j * per));
        }
        return tf.tensor4d(buf, [rows.length, h, w, c]);
      },
    };
  }

  clear(): void {
    this.cache.clear();
  }
}

/** Features (what the head sees) of rows of the view table: through the tail in chunks of `chunk` rows. */
export async function tailFeatures(feed: TailFeed, rows: number[], chunk: number): Promise<tf.Tensor2D> {
  const parts: tf.Tensor2D[] = [];
  try {
    for (let s = 0; s < rows.length; s += chunk) {
      const pre = await feed.batch(rows.slice(s, s + chunk));
      parts.push(tf.tidy(() => feed.tail.apply(pre)));
      pre.dispose();
    }
    return tf.concat(parts, 0);
  } finally {
    tf.dispose(parts);
  }
}
