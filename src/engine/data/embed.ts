// Embedding: images through the frozen backbone, once per view, through the
// caches. Training reads every view's embedding (and, for the partial strategy,
// its prefix activations); predict and evaluate read the plain view's.
import * as tf from '@tensorflow/tfjs-core';
import { FeatureRows } from './feature-rows.js';
import { EdgetuneError } from '../../errors.js';
import type { FineTuneOptions, PrefixCacheInfo, RawImage, ResolvedTrainConfig } from '../../types.js';
import { tensorFromHalves } from '../kernels/wasm-kernels.js';
import type { Backbone } from '../model/backbone.js';
import type { BackboneForward } from '../model/forward.js';
import type { Tail } from '../model/tail.js';
import type { TailFeed } from '../train/loop.js';
import { throwIfAborted, yieldToEventLoop } from '../train/loop.js';
import { decodeHalf, encodeHalf } from '../util/fp16.js';
import { shortHash } from '../util/hash.js';
import { EmbeddingCache, embeddingKey, type EmbeddingStore } from './embed-cache.js';
import type { ImageSource } from './examples.js';
import { PrefixCache } from './prefix-cache.js';
import { FULL_VIEW, augmentBox, batchToInput, validateRawImage, type Box } from './preprocess.js';

/** The result of embedding every view of every example. */
export interface Embedded {
  /** Embeddings of every view, one row each. */
  x: FeatureRows;
  /** Rows of `x` per example; views[i][0] is the plain view. */
  views: number[][];
  /** The sources embedded, by example index (views over the prefix budget reload from them). */
  sources: ImageSource[];
  /** Example and view id of each row. */
  rowSource: { example: number; view: number }[];
  /** Prefix-cache key of each row (partial strategy), else empty. */
  prefixKeys: string[];
  prefix?: PrefixCacheInfo;
  /** Views that went through the backbone (embedding or prefix activations not cached). */
  computed: number;
  /** Views served entirely from the caches. */
  hits: number;
  /** Examples skipped as undecodable, with the reason. */
  invalid: Map<number, string>;
}

/** The backbone with its caches: what turns images into what the trainable parts read. */
export class Embedder {
  private prefixCache: PrefixCache;
  /** Plain views that predict and evaluate took from the caches, or ran through the backbone. */
  readonly inferenceCounts = { cached: 0, computed: 0 };

  constructor(
    readonly backbone: Backbone,
    /** Runs the frozen backbone (tfjs, or a native runtime in Node). */
    readonly forward: BackboneForward,
    readonly cache: EmbeddingCache,
    private readonly store: EmbeddingStore | undefined,
    /** Images per backbone forward pass. */
    private readonly batchSize: number,
  ) {
    this.prefixCache = new PrefixCache(undefined, store);
  }

  /**
   * Embeds every requested view of every source, through the cache: a view's
   * backbone pass runs once, whatever the number of epochs or runs. With a
   * tail, the same pass also fills the prefix-activation cache up to its budget.
   */
  async embedAll(
    sources: ImageSource[],
    viewIds: number[][],
    hooks: Pick<FineTuneOptions, 'onProgress' | 'signal' | 'skipInvalid'> = {},
    partial?: { tail: Tail; budgetBytes: number },
  ): Promise<Embedded> {
    const dim = this.backbone.manifest.embeddingSize;
    const keys = sources.map((s, i) => viewIds[i]!.map((v) => embeddingKey(this.backbone, s.hash, v)));
    const flat = keys.flat();
    const found = await this.cache.getMany(flat);
    const rows = new Float32Array(flat.length * dim);
    const views: number[][] = [];
    const rowSource: { example: number; view: number }[] = [];
    let r = 0;
    sources.forEach((_, i) => views.push(viewIds[i]!.map((v) => (rowSource.push({ example: i, view: v }), r++))));

    const { prefixKeys, wantPrefix, prefix } = await this.planPrefix(flat, partial);
    const cut = partial?.tail.plan.cutNode;
    const pending: { row: number; key: string; source: number; view: number }[] = [];
    flat.forEach((key, row) => {
      const got = found[row];
      if (got) rows.set(got, row * dim);
      if (!got || wantPrefix.has(row)) pending.push({ row, key, ...rowSource[row]!, source: rowSource[row]!.example });
    });
    const hits = flat.length - pending.length;
    let computed = 0;
    const total = flat.length;
    const report = (done: number) => hooks.onProgress?.({ phase: 'embed', done, total, cacheHits: hits, ...(prefix ? { prefix } : {}) });
    report(hits);

    // Group pending views by image so each image is decoded once.
    const byImage = new Map<number, typeof pending>();
    for (const p of pending) (byImage.get(p.source) ?? byImage.set(p.source, []).get(p.source)!).push(p);
    let batch: { img: RawImage; boxes: Box[]; items: typeof pending }[] = [];
    let batchViews = 0;
    let done = hits;
    const flush = async () => {
      if (!batch.length) return;
      const out = await this.embedViews(batch, cut);
      const entries: [string, Float32Array][] = [];
      const per = out.prefix ? out.prefix.length / batchViews : 0;
      let k = 0;
      for (const b of batch) {
        for (const item of b.items) {
          const v = out.embedding.subarray(k * dim, (k + 1) * dim);
          rows.set(v, item.row * dim);
          if (!found[item.row]) entries.push([item.key, v.slice()]);
          if (out.prefix && wantPrefix.has(item.row)) this.prefixCache.put(prefixKeys[item.row]!, out.prefix.subarray(k * per, (k + 1) * per));
          k++;
        }
      }
      await this.cache.putMany(entries);
      await this.prefixCache.persist(batch.flatMap((b) => b.items.filter((it) => wantPrefix.has(it.row)).map((it) => prefixKeys[it.row]!)));
      computed += k;
      done += k;
      batch = [];
      batchViews = 0;
      report(done);
    };
    const invalid = new Map<number, string>();
    for (const [i, items] of byImage) {
      if (batchViews === 0) await yieldToEventLoop();
      throwIfAborted(hooks.signal);
      const src = sources[i]!;
      const img = await loadOrSkip(src, i, hooks, invalid);
      if (!img) continue;
      const boxes = items.map((it) => (it.view === 0 ? FULL_VIEW : augmentBox(src.hash, it.view, img.width, img.height)));
      batch.push({ img, boxes, items });
      batchViews += boxes.length;
      if (batchViews >= this.batchSize) await flush();
    }
    await flush();
    return { x: new FeatureRows(rows, dim), sources, views, computed, hits, invalid, rowSource, prefixKeys, ...(prefix ? { prefix } : {}) };
  }

  /**
   * Prefix activations (partial strategy): keeps this run's views in the cache,
   * and picks the rows to fill, up to the budget in row order.
   */
  private async planPrefix(flat: string[], partial?: { tail: Tail; budgetBytes: number }) {
    const cut = partial?.tail.plan.cutNode;
    const prefixKeys = cut ? flat.map((k) => `${k}-t${shortHash(cut)}`) : [];
    const wantPrefix = new Set<number>();
    if (!partial) return { prefixKeys, wantPrefix, prefix: undefined };
    if (this.prefixCache.budgetBytes !== partial.budgetBytes) this.prefixCache = new PrefixCache(partial.budgetBytes, this.store);
    this.prefixCache.retain(new Set(prefixKeys));
    const [h, w, c] = partial.tail.prefixShape;
    const capacity = this.prefixCache.capacity(h * w * c);
    await this.prefixCache.preload(prefixKeys.slice(0, capacity));
    prefixKeys.slice(0, capacity).forEach((k, row) => !this.prefixCache.has(k) && wantPrefix.add(row));
    const cached = Math.min(flat.length, capacity);
    const prefix: PrefixCacheInfo = { cached, recomputed: flat.length - cached, budgetBytes: partial.budgetBytes };
    return { prefixKeys, wantPrefix, prefix };
  }

  /** One backbone forward pass over all views in `batch`, concatenated in order (with prefix activations when `cutNode` is set). */
  async embedViews(batch: { img: RawImage; boxes: Box[] }[], cutNode?: string): Promise<{ embedding: Float32Array; prefix?: Float32Array }> {
    const x = this.inputOf(batch);
    try {
      const { embedding, prefix } = await this.forward.run(x, { embedding: true, ...(cutNode ? { prefix: cutNode } : {}) });
      return { embedding: embedding!, ...(prefix ? { prefix } : {}) };
    } finally {
      x.dispose();
    }
  }

  /** The normalized backbone input for views of images, concatenated in order. */
  private inputOf(batch: { img: RawImage; boxes: Box[] }[]): tf.Tensor4D {
    return tf.tidy(() => batchToInput(batch, this.backbone.manifest));
  }

  /** Features (what the head sees) of rows of the view table: cached embeddings, or the tail over prefix activations. */
  async featuresOfRows(rows: number[], emb: Embedded, tail: Tail | null, cfg: ResolvedTrainConfig): Promise<tf.Tensor2D> {
    if (!tail) return emb.x.gather(rows);
    const feed = this.tailFeed(tail, emb, cfg);
    const parts: tf.Tensor2D[] = [];
    try {
      for (let s = 0; s < rows.length; s += 64) {
        const pre = await feed.batch(rows.slice(s, s + 64));
        parts.push(tf.tidy(() => tail.apply(pre)));
        pre.dispose();
      }
      return tf.concat(parts, 0);
    } finally {
      tf.dispose(parts);
    }
  }

  /**
   * Prefix activations for training rows: from the fp16 cache, or recomputed
   * through the frozen prefix for views that did not fit its budget.
   */
  tailFeed(tail: Tail, emb: Embedded, cfg: ResolvedTrainConfig): TailFeed {
    const [h, w, c] = tail.prefixShape;
    const per = h * w * c;
    return {
      tail,
      lrRatio: cfg.backboneLearningRate / cfg.learningRate,
      batch: async (rows) => {
        // All cached (the usual case): decoded straight into a WASM tensor where possible.
        const halves = rows.map((r) => this.prefixCache.halves(emb.prefixKeys[r]!));
        if (halves.every((x): x is Uint16Array => x !== undefined)) {
          const t = tensorFromHalves(halves, [rows.length, h, w, c]);
          if (t) return t as tf.Tensor4D;
        }
        const buf = new Float32Array(rows.length * per);
        const missing = rows.flatMap((r, j) => (this.prefixCache.read(emb.prefixKeys[r]!, buf, j * per) ? [] : [j]));
        if (missing.length) {
          const imgs = await Promise.all(missing.map((j) => emb.sources[emb.rowSource[rows[j]!]!.example]!.load()));
          const x = this.inputOf(
            missing.map((j, k) => {
              const { example, view } = emb.rowSource[rows[j]!]!;
              const img = imgs[k]!;
              return { img, boxes: [view === 0 ? FULL_VIEW : augmentBox(emb.sources[example]!.hash, view, img.width, img.height)] };
            }),
          );
          const data = (await this.forward.run(x, { embedding: false, prefix: tail.plan.cutNode }).finally(() => x.dispose())).prefix!;
          missing.forEach((j, k) => buf.set(data.subarray(k * per, (k + 1) * per), j * per));
        }
        return tf.tensor4d(buf, [rows.length, h, w, c]);
      },
    };
  }

  /**
   * What the model's trainable part reads for each source's plain view: the
   * embedding [n, d] (head only) or the prefix activations [n, h, w, c] (with a
   * tail), from the caches where the source has a hash, else from the backbone.
   * With `invalid`, undecodable images are recorded there (by index) and get zeros.
   */
  async inferenceFeatures(
    chunk: (ImageSource | RawImage)[],
    offset: number,
    tail: Tail | null,
    invalid: Map<number, string> | null,
  ): Promise<tf.Tensor> {
    const width = tail ? tail.prefixShape[0] * tail.prefixShape[1] * tail.prefixShape[2] : this.backbone.manifest.embeddingSize;
    const keys = chunk.map((src) => ('hash' in src ? this.inferenceKey(src.hash, tail) : null));
    const hashed = keys.flatMap((key, i) => (key ? [i] : []));
    const found: (Float32Array | undefined)[] = new Array(chunk.length).fill(undefined);
    const got = await this.readInferenceCache(hashed.map((i) => keys[i]!), tail);
    hashed.forEach((i, j) => (found[i] = got[j]?.length === width ? got[j] : undefined));
    let missing = chunk.flatMap((_, i) => (found[i] ? [] : [i]));
    this.inferenceCounts.cached += chunk.length - missing.length;
    const loaded = await Promise.all(
      missing.map(async (i) => {
        const src = chunk[i]!;
        try {
          const img = 'load' in src ? await src.load() : src;
          validateRawImage(img, 'load' in src ? src.name : `image ${offset + i}`);
          return img;
        } catch (err) {
          if (!invalid || !(err instanceof EdgetuneError && err.code === 'INVALID_IMAGE')) throw err;
          invalid.set(offset + i, err.message);
          found[i] = new Float32Array(width);
          return null;
        }
      }),
    );
    const imgs = loaded.filter((img): img is RawImage => img !== null);
    missing = missing.filter((_, j) => loaded[j] !== null);
    if (missing.length) {
      this.inferenceCounts.computed += missing.length;
      const x = this.inputOf(imgs.map((img) => ({ img, boxes: [FULL_VIEW] })));
      const out = await this.forward.run(x, tail ? { embedding: false, prefix: tail.plan.cutNode } : { embedding: true }).finally(() => x.dispose());
      const values = (tail ? out.prefix : out.embedding)!;
      const entries: [string, Float32Array][] = [];
      missing.forEach((i, j) => {
        found[i] = values.subarray(j * width, (j + 1) * width);
        if (keys[i]) entries.push([keys[i]!, found[i]!.slice()]);
      });
      await this.writeInferenceCache(entries, tail);
    }
    const flat = new Float32Array(chunk.length * width);
    found.forEach((v, i) => flat.set(v!, i * width));
    return tail ? tf.tensor4d(flat, [chunk.length, ...tail.prefixShape]) : tf.tensor2d(flat, [chunk.length, width]);
  }

  /** The key training uses for a plain view: its embedding, or (with a tail) its prefix activations. */
  inferenceKey(hash: string, tail: Tail | null): string | null {
    const key = embeddingKey(this.backbone, hash, 0);
    if (!tail) return key;
    // Prefix activations are only worth keeping where they persist (they are large).
    return this.store ? `${key}-t${shortHash(tail.plan.cutNode)}` : null;
  }

  async readInferenceCache(keys: string[], tail: Tail | null): Promise<(Float32Array | undefined)[]> {
    if (!keys.length) return [];
    if (!tail) return this.cache.getMany(keys);
    return (await this.store!.getMany(keys)).map((b) => decodeHalf(b));
  }

  async writeInferenceCache(entries: [string, Float32Array][], tail: Tail | null): Promise<void> {
    if (!entries.length) return;
    if (!tail) return this.cache.putMany(entries);
    await this.store!.putMany(entries.map(([k, v]) => [k, encodeHalf(v)]));
  }

  /** Empties the embedding and prefix caches, in memory and in the persistent store. */
  async clear(): Promise<void> {
    this.prefixCache.clear();
    await this.cache.clear();
  }

  /** Drops the in-memory prefix activations (the persistent store keeps its copy). */
  release(): void {
    this.prefixCache.clear();
  }
}

/** Decodes a source; an undecodable one is recorded in `invalid` (with skipInvalid) and gives null. */
async function loadOrSkip(src: ImageSource, i: number, hooks: Pick<FineTuneOptions, 'onProgress' | 'skipInvalid'>, invalid: Map<number, string>): Promise<RawImage | null> {
  try {
    const img = await src.load();
    validateRawImage(img, src.name);
    return img;
  } catch (err) {
    if (!hooks.skipInvalid || !(err instanceof EdgetuneError) || err.code !== 'INVALID_IMAGE') throw err;
    invalid.set(i, err.message);
    hooks.onProgress?.({ phase: 'skip', name: src.name, reason: err.message });
    return null;
  }
}
