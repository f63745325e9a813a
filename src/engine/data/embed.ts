// Embedding: images through the frozen backbone, once per view, through the
// caches. Training reads every view's embedding (and, through a tap, the
// activations at a cut node that a strategy asks for in the same pass); predict
// and evaluate read the plain view's embedding or activations at a model's cut.
import * as tf from '@tensorflow/tfjs-core';
import { FeatureRows } from './feature-rows.js';
import { EdgetuneError } from '../../errors.js';
import type { FineTuneOptions, RawImage } from '../../types.js';
import type { Backbone } from '../model/backbone.js';
import type { BackboneForward } from '../model/forward.js';
import { throwIfAborted, yieldToEventLoop } from '../util/async.js';
import { decodeHalf, encodeHalf } from '../util/fp16.js';
import { shortHash } from '../util/hash.js';
import { EmbeddingCache, embeddingKey, type EmbeddingStore } from './embed-cache.js';
import type { ImageSource } from './examples.js';
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
  /** Embedding-cache key of each row (a strategy keys its own caches from them). */
  keys: string[];
  /** Views that went through the backbone (embedding or tapped activations not cached). */
  computed: number;
  /** Views served entirely from the caches. */
  hits: number;
  /** Examples skipped as undecodable, with the reason. */
  invalid: Map<number, string>;
}

/**
 * Where a model's trainable part starts: the activations at `node` (`input`: the
 * backbone's normalized input itself), [h, w, c] per view.
 */
export interface Cut {
  node: string;
  input: boolean;
  shape: readonly [number, number, number];
}

/** Activations to capture in the same backbone pass as the embeddings, for the rows `wants` accepts. */
export interface ActivationTap {
  cut: Pick<Cut, 'node' | 'input'>;
  wants(row: number): boolean;
  /** A batch's captured rows; `values` are views of a buffer reused after the call returns. */
  take(rows: number[], values: Float32Array[]): Promise<void>;
}

/** The backbone with its caches: what turns images into what the trainable parts read. */
export class Embedder {
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
  ) {}

  /**
   * Embeds every requested view of every source, through the cache: a view's
   * backbone pass runs once, whatever the number of epochs or runs. With a tap,
   * the same pass also captures the activations the tap wants.
   */
  async embedAll(sources: ImageSource[], viewIds: number[][], hooks: Pick<FineTuneOptions, 'onProgress' | 'signal' | 'skipInvalid'> = {}, tap?: ActivationTap): Promise<Embedded> {
    const dim = this.backbone.manifest.embeddingSize;
    const keys = this.keysOf(sources, viewIds);
    const found = await this.cache.getMany(keys);
    const rows = new Float32Array(keys.length * dim);
    const views: number[][] = [];
    const rowSource: { example: number; view: number }[] = [];
    let r = 0;
    sources.forEach((_, i) => views.push(viewIds[i]!.map((v) => (rowSource.push({ example: i, view: v }), r++))));

    const pending: { row: number; key: string; source: number; view: number; tapped: boolean }[] = [];
    keys.forEach((key, row) => {
      const got = found[row];
      if (got) rows.set(got, row * dim);
      const tapped = tap?.wants(row) ?? false;
      if (!got || tapped) pending.push({ row, key, source: rowSource[row]!.example, view: rowSource[row]!.view, tapped });
    });
    const hits = keys.length - pending.length;
    const total = keys.length;
    const report = (done: number) => hooks.onProgress?.({ phase: 'embed', done, total, cacheHits: hits });
    report(hits);

    // Group pending views by image so each image is decoded once.
    const byImage = new Map<number, typeof pending>();
    for (const p of pending) (byImage.get(p.source) ?? byImage.set(p.source, []).get(p.source)!).push(p);
    let batch: { img: RawImage; boxes: Box[]; items: typeof pending }[] = [];
    let batchViews = 0;
    let done = hits;
    const flush = async () => {
      if (!batch.length) return;
      const out = await this.embedViews(batch, tap?.cut);
      const entries: [string, Float32Array][] = [];
      const per = out.prefix ? out.prefix.length / batchViews : 0;
      const tapped: { rows: number[]; values: Float32Array[] } = { rows: [], values: [] };
      let k = 0;
      for (const item of batch.flatMap((b) => b.items)) {
        const v = out.embedding.subarray(k * dim, (k + 1) * dim);
        rows.set(v, item.row * dim);
        if (!found[item.row]) entries.push([item.key, v.slice()]);
        if (out.prefix && item.tapped) {
          tapped.rows.push(item.row);
          tapped.values.push(out.prefix.subarray(k * per, (k + 1) * per));
        }
        k++;
      }
      await this.cache.putMany(entries);
      if (tapped.rows.length) await tap!.take(tapped.rows, tapped.values);
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
      batch.push({ img, boxes: items.map((it) => boxOf(src.hash, it.view, img)), items });
      batchViews += items.length;
      if (batchViews >= this.batchSize) await flush();
    }
    await flush();
    return { x: new FeatureRows(rows, dim), sources, views, computed: done - hits, hits, invalid, rowSource, keys };
  }

  /** The embedding-cache key of every requested view, in row order. */
  keysOf(sources: ImageSource[], viewIds: number[][]): string[] {
    return sources.flatMap((s, i) => viewIds[i]!.map((v) => embeddingKey(this.backbone, s.hash, v)));
  }

  /** One backbone forward pass over all views in `batch`, concatenated in order (with the activations at `cut` when given). */
  async embedViews(batch: { img: RawImage; boxes: Box[] }[], cut?: Pick<Cut, 'node' | 'input'>): Promise<{ embedding: Float32Array; prefix?: Float32Array }> {
    const x = this.inputOf(batch);
    try {
      const { embedding, prefix } = await this.forward.run(x, { embedding: true, ...(cut && !cut.input ? { prefix: cut.node } : {}) });
      const input = cut?.input ? ((await x.data()) as Float32Array) : undefined;
      return { embedding: embedding!, ...(prefix || input ? { prefix: (prefix ?? input)! } : {}) };
    } finally {
      x.dispose();
    }
  }

  /** The activations at `cut` of views of images (no cache), concatenated in order. */
  async activations(views: { img: RawImage; box: Box }[], cut: Pick<Cut, 'node' | 'input'>): Promise<Float32Array> {
    const x = this.inputOf(views.map((v) => ({ img: v.img, boxes: [v.box] })));
    try {
      if (cut.input) return (await x.data()) as Float32Array;
      return (await this.forward.run(x, { embedding: false, prefix: cut.node })).prefix!;
    } finally {
      x.dispose();
    }
  }

  /** The normalized backbone input for views of images, concatenated in order. */
  private inputOf(batch: { img: RawImage; boxes: Box[] }[]): tf.Tensor4D {
    return tf.tidy(() => batchToInput(batch, this.backbone.manifest));
  }

  /**
   * What the model's trainable part reads for each source's plain view: the
   * embedding [n, d] (head only) or the activations at its cut [n, h, w, c], from
   * the caches where the source has a hash, else from the backbone.
   * With `invalid`, undecodable images are recorded there (by index) and get zeros.
   */
  async inferenceFeatures(chunk: (ImageSource | RawImage)[], offset: number, cut: Cut | null, invalid: Map<number, string> | null): Promise<tf.Tensor> {
    const width = cut ? cut.shape[0] * cut.shape[1] * cut.shape[2] : this.backbone.manifest.embeddingSize;
    const keys = chunk.map((src) => ('hash' in src ? this.inferenceKey(src.hash, cut) : null));
    const hashed = keys.flatMap((key, i) => (key ? [i] : []));
    const found: (Float32Array | undefined)[] = new Array(chunk.length).fill(undefined);
    const got = await this.readInferenceCache(hashed.map((i) => keys[i]!), cut);
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
      const values = cut
        ? await this.activations(imgs.map((img) => ({ img, box: FULL_VIEW })), cut)
        : (await this.embedViews(imgs.map((img) => ({ img, boxes: [FULL_VIEW] })))).embedding;
      const entries: [string, Float32Array][] = [];
      missing.forEach((i, j) => {
        found[i] = values.subarray(j * width, (j + 1) * width);
        if (keys[i]) entries.push([keys[i]!, found[i]!.slice()]);
      });
      await this.writeInferenceCache(entries, cut);
    }
    const flat = new Float32Array(chunk.length * width);
    found.forEach((v, i) => flat.set(v!, i * width));
    return cut ? tf.tensor4d(flat, [chunk.length, ...cut.shape]) : tf.tensor2d(flat, [chunk.length, width]);
  }

  /**
   * The key training uses for a plain view: its embedding, or the activations at
   * a cut (only where they persist: they are large; never for the input itself,
   * which is cheaper to recompute than to store).
   */
  inferenceKey(hash: string, cut: Cut | null): string | null {
    const key = embeddingKey(this.backbone, hash, 0);
    if (!cut) return key;
    return this.store && !cut.input ? cutKey(key, cut.node) : null;
  }

  private async readInferenceCache(keys: string[], cut: Cut | null): Promise<(Float32Array | undefined)[]> {
    if (!keys.length) return [];
    if (!cut) return this.cache.getMany(keys);
    return (await this.store!.getMany(keys)).map((b) => decodeHalf(b));
  }

  private async writeInferenceCache(entries: [string, Float32Array][], cut: Cut | null): Promise<void> {
    if (!entries.length) return;
    if (!cut) return this.cache.putMany(entries);
    await this.store!.putMany(entries.map(([k, v]) => [k, encodeHalf(v)]));
  }

  /** Empties the embedding cache, in memory and in the persistent store (which holds the activation caches' entries too). */
  async clear(): Promise<void> {
    await this.cache.clear();
  }
}

/** The cache key of a view's activations at a cut node, from its embedding key. */
export const cutKey = (embeddingKey: string, node: string): string => `${embeddingKey}-t${shortHash(node)}`;

/** The crop of view `view` of an image (0: the whole image). */
export const boxOf = (hash: string, view: number, img: RawImage): Box => (view === 0 ? FULL_VIEW : augmentBox(hash, view, img.width, img.height));

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
