// The engine's stateful classifier: examples in, trained head out. No DOM and
// no Comlink: the browser worker, the CLI and Node users all drive this class.
import * as tf from '@tensorflow/tfjs-core';
import { EdgetuneError } from '../errors.js';
import type {
  BackendInfo,
  EpochLog,
  EvaluationReport,
  FineTuneOptions,
  ModelFiles,
  Prediction,
  RawImage,
  ResolvedTrainConfig,
  TrainingReport,
} from '../types.js';
import { exportModel, importModel, type ModelMetadata } from './artifacts.js';
import { loadBackbone, type Backbone, type BackboneLoadOptions } from './backbone.js';
import { selectBackend, type BackendOptions } from './backend.js';
import { EmbeddingCache, embeddingKey, type EmbeddingStore } from './embed-cache.js';
import { metrics } from './evaluate.js';
import { checkLabel, type Example, type ImageSource } from './examples.js';
import { featureStats, Head } from './head.js';
import { DEFAULT_BACKBONE } from './manifest.js';
import { FULL_VIEW, augmentBox, validateRawImage, viewsToInput, type Box } from './preprocess.js';
import { createRng, shuffle } from './random.js';
import { balancedClassWeights, throwIfAborted, trainHead, yieldToEventLoop, type TrainData } from './train.js';

export interface EngineOptions extends BackboneLoadOptions, BackendOptions {
  /** A bundled backbone id or the URL/path of a manifest.json. @default 'mobilenet_v2_140' */
  backbone?: string;
  /** Skip backend selection and use tfjs' current backend (when the host already chose one). */
  useCurrentBackend?: boolean;
  /** In-memory embedding cache budget in bytes. @default 256 MiB */
  cacheBudgetBytes?: number;
  /** A persistent embedding store behind the memory cache (disk in the CLI). */
  embeddingStore?: EmbeddingStore;
  /** Images per backbone forward pass. @default 16 */
  embedBatchSize?: number;
}

export const TRAIN_DEFAULTS: ResolvedTrainConfig = {
  epochs: 80,
  batchSize: 32,
  learningRate: 3e-4,
  weightDecay: 1e-4,
  lrStepEpochs: 10,
  lrGamma: 0.5,
  labelSmoothing: 0.1,
  hiddenUnits: 0,
  dropout: 0,
  augment: 2,
  validationSplit: 0.15,
  patience: 12,
  seed: 42,
  strategy: 'head',
  classBalance: 'auto',
  refit: true,
};

/** Resolves fineTune options against the defaults, naming the first invalid one. */
export function resolveTrainConfig(opts: FineTuneOptions = {}): ResolvedTrainConfig {
  const cfg = { ...TRAIN_DEFAULTS };
  for (const key of Object.keys(TRAIN_DEFAULTS) as (keyof ResolvedTrainConfig)[]) {
    if (opts[key] !== undefined) (cfg as Record<string, unknown>)[key] = opts[key];
  }
  const int = (k: keyof ResolvedTrainConfig, min: number, max: number) => {
    const v = cfg[k] as number;
    if (!Number.isInteger(v) || v < min || v > max) throw new EdgetuneError('INVALID_ARGUMENT', `${k} must be an integer in ${min}..${max}, got ${v}`);
  };
  const num = (k: keyof ResolvedTrainConfig, min: number, max: number) => {
    const v = cfg[k] as number;
    if (typeof v !== 'number' || !(v >= min && v <= max)) throw new EdgetuneError('INVALID_ARGUMENT', `${k} must be a number in [${min}, ${max}], got ${v}`);
  };
  int('epochs', 1, 10_000);
  int('batchSize', 1, 4096);
  num('learningRate', 1e-7, 10);
  num('weightDecay', 0, 100);
  int('lrStepEpochs', 1, 10_000);
  num('lrGamma', 0.01, 1);
  num('labelSmoothing', 0, 0.5);
  int('hiddenUnits', 0, 8192);
  num('dropout', 0, 0.9);
  int('augment', 0, 16);
  num('validationSplit', 0, 0.5);
  int('patience', 1, 10_000);
  int('seed', 0, 2 ** 31 - 1);
  if (typeof cfg.refit !== 'boolean') throw new EdgetuneError('INVALID_ARGUMENT', `refit must be a boolean, got ${cfg.refit}`);
  if (cfg.strategy !== 'head') throw new EdgetuneError('INVALID_ARGUMENT', `strategy must be 'head', got '${cfg.strategy}'`);
  if (!['auto', 'weights', 'off'].includes(cfg.classBalance)) {
    throw new EdgetuneError('INVALID_ARGUMENT', `classBalance must be 'auto', 'weights' or 'off', got '${cfg.classBalance}'`);
  }
  return cfg;
}

/** Counts of examples per class and split. */
export type ExampleCounts = Record<string, { train: number; val: number }>;

/**
 * Creates an engine: selects a backend, loads and verifies the backbone, warms it up.
 *
 * @throws EdgetuneError BACKEND_UNAVAILABLE, UNKNOWN_BACKBONE, MODEL_LOAD_FAILED, MODEL_INTEGRITY
 * @example
 *   const engine = await createEngine({ backends: ['wasm', 'cpu'] });
 *   engine.backend.name // 'wasm'
 */
export async function createEngine(opts: EngineOptions = {}): Promise<Engine> {
  const backend: BackendInfo = opts.useCurrentBackend
    ? { name: tf.getBackend() as BackendInfo['name'], reasons: {}, details: {} }
    : await selectBackend(opts);
  const backbone = await loadBackbone(opts.backbone ?? DEFAULT_BACKBONE, opts);
  return new Engine(backend, backbone, opts);
}

export class Engine {
  private examples: Example[] = [];
  private head: Head | null = null;
  private headLabels: string[] = [];
  private meta: ModelMetadata['training'] | undefined;
  private training = false;
  private disposed = false;
  readonly cache: EmbeddingCache;
  private readonly embedBatch: number;

  /** Use createEngine(). */
  constructor(
    readonly backend: BackendInfo,
    readonly backbone: Backbone,
    opts: EngineOptions = {},
  ) {
    this.cache = new EmbeddingCache(opts.cacheBudgetBytes, opts.embeddingStore);
    this.embedBatch = opts.embedBatchSize ?? 16;
  }

  /** Labels of the trained (or loaded) model, in output order; empty before training. */
  get labels(): string[] {
    return [...this.headLabels];
  }

  get isTrained(): boolean {
    return this.head !== null;
  }

  private alive(): void {
    if (this.disposed) throw new EdgetuneError('DISPOSED', 'This classifier was disposed; create a new one');
  }

  /** Adds examples of one class. `split: 'val'` pins them to the validation set. */
  addExamples(label: string, sources: ImageSource[], opts: { split?: 'train' | 'val' } = {}): ExampleCounts {
    this.alive();
    const name = checkLabel(label);
    if (!Array.isArray(sources) || sources.length === 0) {
      throw new EdgetuneError('INVALID_ARGUMENT', `addExamples('${name}') needs at least one image`);
    }
    for (const source of sources) this.examples.push({ label: name, source, ...(opts.split ? { split: opts.split } : {}) });
    return this.counts();
  }

  /** Removes every example of a class; returns how many were removed. */
  removeClass(label: string): number {
    this.alive();
    const before = this.examples.length;
    this.examples = this.examples.filter((e) => e.label !== label);
    return before - this.examples.length;
  }

  clearExamples(): void {
    this.examples = [];
  }

  counts(): ExampleCounts {
    const out: ExampleCounts = {};
    for (const e of this.examples) {
      const c = (out[e.label] ??= { train: 0, val: 0 });
      e.split === 'val' ? c.val++ : c.train++;
    }
    return out;
  }

  /**
   * Trains a new head on the current examples. The previous model stays in use
   * until training succeeds; abort or failure leave it unchanged.
   *
   * @throws EdgetuneError NO_EXAMPLES, TOO_FEW_CLASSES, BUSY, ABORTED, INVALID_ARGUMENT, INVALID_IMAGE
   */
  async fineTune(opts: FineTuneOptions = {}): Promise<TrainingReport> {
    this.alive();
    if (this.training) throw new EdgetuneError('BUSY', 'fineTune is already running; await it or abort it first');
    const cfg = resolveTrainConfig(opts);
    this.training = true;
    try {
      return await this.runFineTune(cfg, opts);
    } finally {
      this.training = false;
    }
  }

  private async runFineTune(cfg: ResolvedTrainConfig, opts: FineTuneOptions): Promise<TrainingReport> {
    if (this.examples.length === 0) throw new EdgetuneError('NO_EXAMPLES', 'No examples: call addExamples(label, images) for at least two classes');
    const labels = [...new Set(this.examples.map((e) => e.label))];
    if (labels.length < 2) {
      throw new EdgetuneError('TOO_FEW_CLASSES', `Need examples of at least two classes, have only '${labels[0]}'`);
    }
    const { trainIdx, valIdx } = this.split(labels, cfg);
    const classIndex = new Map(labels.map((l, i) => [l, i]));
    const y = Int32Array.from(this.examples, (e) => classIndex.get(e.label)!);

    // Views: the plain image for every example, plus `augment` crops for training examples.
    const isTrain = new Set(trainIdx);
    // With refit, validation examples are trained on too, so they need augmented views as well.
    const augmented = (i: number) => isTrain.has(i) || cfg.refit;
    const viewIds = this.examples.map((_, i) => (augmented(i) ? Array.from({ length: cfg.augment + 1 }, (_, v) => v) : [0]));
    const t0 = performance.now();
    const { x, views, computed, hits, invalid } = await this.embedAll(this.examples.map((e) => e.source), viewIds, opts);
    const embedMs = performance.now() - t0;
    try {
      const usable = (i: number) => !invalid.has(i);
      return await this.trainOn(labels, y, x, views, trainIdx.filter(usable), valIdx.filter(usable), cfg, opts, {
        embedMs,
        computed,
        hits,
        skipped: [...invalid].map(([i, reason]) => ({ name: this.examples[i]!.source.name, reason })),
      });
    } finally {
      x.dispose();
    }
  }

  private async trainOn(
    labels: string[],
    y: Int32Array,
    x: tf.Tensor2D,
    views: number[][],
    trainIdx: number[],
    valIdx: number[],
    cfg: ResolvedTrainConfig,
    opts: FineTuneOptions,
    embedInfo: { embedMs: number; computed: number; hits: number; skipped: TrainingReport['skipped'] },
  ): Promise<TrainingReport> {
    const empty = labels.filter((_, c) => !trainIdx.some((i) => y[i] === c));
    if (empty.length) throw new EdgetuneError('TOO_FEW_CLASSES', `No usable training images for: ${empty.join(', ')}`);

    const counts = labels.map((_, c) => trainIdx.filter((i) => y[i] === c).length);
    const imbalanced = Math.max(...counts) > 2 * Math.min(...counts);
    const balance = cfg.classBalance === 'weights' || (cfg.classBalance === 'auto' && imbalanced);
    const classWeights = balance ? balancedClassWeights(counts) : new Float32Array(labels.length).fill(1);
    const t1 = performance.now();

    // Stage 1: train on the training split, pick the epoch by validation.
    const select = await this.trainStage(labels, { x, labels: y, views, trainIdx, valIdx, numClasses: labels.length, classWeights }, cfg, opts, 'select');
    let head = select.head;
    let refitHistory: EpochLog[] | undefined;
    try {
      // Stage 2 (refit): a fresh head on train + val for the selected number of
      // epochs, as scikit-learn's refit after model selection. Few-shot sets gain most.
      if (cfg.refit && valIdx.length > 0) {
        const all = [...trainIdx, ...valIdx].sort((a, b) => a - b);
        const allCounts = labels.map((_, c) => all.filter((i) => y[i] === c).length);
        const weights = balance ? balancedClassWeights(allCounts) : classWeights;
        const refit = await this.trainStage(
          labels,
          { x, labels: y, views, trainIdx: all, valIdx: [], numClasses: labels.length, classWeights: weights },
          { ...cfg, epochs: select.result.bestEpoch },
          opts,
          'refit',
        );
        head.dispose();
        head = refit.head;
        refitHistory = refit.result.history;
      }
      throwIfAborted(opts.signal);
    } catch (err) {
      head.dispose();
      throw err;
    }
    // Success: swap the new head in, only now.
    const result = select.result;
    this.head?.dispose();
    this.head = head;
    this.headLabels = labels;
    this.meta = {
      config: cfg,
      epochsRun: result.history.length,
      bestEpoch: result.bestEpoch,
      ...(result.bestValAccuracy !== undefined ? { bestValAccuracy: result.bestValAccuracy } : {}),
    };
    return {
      labels,
      strategy: cfg.strategy,
      epochsRun: result.history.length,
      bestEpoch: result.bestEpoch,
      stoppedEarly: result.stoppedEarly,
      history: result.history,
      refitHistory: refitHistory ?? null,
      trainCount: trainIdx.length,
      validationCount: valIdx.length,
      ...(result.bestValAccuracy !== undefined ? { bestValAccuracy: result.bestValAccuracy } : {}),
      embeddingsComputed: embedInfo.computed,
      cacheHits: embedInfo.hits,
      embedMs: embedInfo.embedMs,
      trainMs: performance.now() - t1,
      skipped: embedInfo.skipped,
      classWeights: balance ? Object.fromEntries(labels.map((l, i) => [l, classWeights[i]!])) : null,
      config: cfg,
    };
  }

  /** One head training run; the returned head is the caller's to keep or dispose. */
  private async trainStage(labels: string[], data: TrainData, cfg: ResolvedTrainConfig, opts: FineTuneOptions, stage: EpochLog['stage']) {
    // The head takes ownership of the statistics tensors.
    const stats = tf.tidy(() => featureStats(tf.gather(data.x, data.trainIdx.map((i) => data.views[i]![0]!))));
    const head = Head.create(
      { inputSize: this.backbone.manifest.embeddingSize, numClasses: labels.length, hiddenUnits: cfg.hiddenUnits },
      stats,
      cfg.seed,
    );
    try {
      const result = await trainHead(head, data, cfg, {
        signal: opts.signal,
        onEpoch: (log) => opts.onProgress?.({ phase: 'train', ...log, stage }),
      });
      return { head, result };
    } catch (err) {
      head.dispose();
      throw err;
    }
  }

  /** Validation indices: examples pinned to 'val', else a seeded stratified split. */
  private split(labels: string[], cfg: ResolvedTrainConfig): { trainIdx: number[]; valIdx: number[] } {
    const pinned = this.examples.some((e) => e.split === 'val');
    const trainIdx: number[] = [];
    const valIdx: number[] = [];
    const rng = createRng(cfg.seed ^ 0x5eed);
    for (const label of labels) {
      const idx = this.examples.flatMap((e, i) => (e.label === label ? [i] : []));
      if (pinned) {
        for (const i of idx) (this.examples[i]!.split === 'val' ? valIdx : trainIdx).push(i);
        continue;
      }
      shuffle(idx, rng);
      // Every class keeps at least one training example; single-example classes get no validation one.
      const nVal = cfg.validationSplit > 0 && idx.length >= 2 ? Math.min(idx.length - 1, Math.max(1, Math.round(idx.length * cfg.validationSplit))) : 0;
      valIdx.push(...idx.slice(0, nVal));
      trainIdx.push(...idx.slice(nVal));
    }
    const missing = labels.filter((l) => !trainIdx.some((i) => this.examples[i]!.label === l));
    if (missing.length) {
      throw new EdgetuneError('TOO_FEW_CLASSES', `Classes with no training examples (all are marked 'val'): ${missing.join(', ')}`);
    }
    return { trainIdx: trainIdx.sort((a, b) => a - b), valIdx: valIdx.sort((a, b) => a - b) };
  }

  /**
   * Embeds every requested view of every source, through the cache: a view's
   * backbone pass runs once, whatever the number of epochs or runs.
   */
  private async embedAll(
    sources: ImageSource[],
    viewIds: number[][],
    hooks: Pick<FineTuneOptions, 'onProgress' | 'signal' | 'skipInvalid'> = {},
  ): Promise<{ x: tf.Tensor2D; views: number[][]; computed: number; hits: number; invalid: Map<number, string> }> {
    const dim = this.backbone.manifest.embeddingSize;
    const keys = sources.map((s, i) => viewIds[i]!.map((v) => embeddingKey(this.backbone, s.hash, v)));
    const flat = keys.flat();
    const found = await this.cache.getMany(flat);
    const rows = new Float32Array(flat.length * dim);
    const views: number[][] = [];
    let r = 0;
    const pending: { row: number; key: string; source: number; view: number }[] = [];
    sources.forEach((_, i) => {
      views.push(
        viewIds[i]!.map((v, j) => {
          const got = found[r];
          if (got) rows.set(got, r * dim);
          else pending.push({ row: r, key: keys[i]![j]!, source: i, view: v });
          return r++;
        }),
      );
    });
    const hits = flat.length - pending.length;
    const total = flat.length;
    hooks.onProgress?.({ phase: 'embed', done: hits, total, cacheHits: hits });

    // Group pending views by image so each image is decoded once.
    const byImage = new Map<number, typeof pending>();
    for (const p of pending) (byImage.get(p.source) ?? byImage.set(p.source, []).get(p.source)!).push(p);
    let batch: { img: RawImage; boxes: Box[]; items: typeof pending }[] = [];
    let batchViews = 0;
    let done = hits;
    const flush = async () => {
      if (!batch.length) return;
      const vecs = await this.embedViews(batch);
      const entries: [string, Float32Array][] = [];
      let k = 0;
      for (const b of batch) {
        for (const item of b.items) {
          const v = vecs.subarray(k * dim, ++k * dim);
          rows.set(v, item.row * dim);
          entries.push([item.key, v.slice()]);
        }
      }
      await this.cache.putMany(entries);
      done += entries.length;
      batch = [];
      batchViews = 0;
      hooks.onProgress?.({ phase: 'embed', done, total, cacheHits: hits });
    };
    const invalid = new Map<number, string>();
    for (const [i, items] of byImage) {
      if (batchViews === 0) await yieldToEventLoop();
      throwIfAborted(hooks.signal);
      const src = sources[i]!;
      let img: RawImage;
      try {
        img = await src.load();
        validateRawImage(img, src.name);
      } catch (err) {
        if (!hooks.skipInvalid || !(err instanceof EdgetuneError) || err.code !== 'INVALID_IMAGE') throw err;
        invalid.set(i, err.message);
        hooks.onProgress?.({ phase: 'skip', name: src.name, reason: err.message });
        continue;
      }
      const boxes = items.map((it) => (it.view === 0 ? FULL_VIEW : augmentBox(src.hash, it.view, img.width, img.height)));
      batch.push({ img, boxes, items });
      batchViews += boxes.length;
      if (batchViews >= this.embedBatch) await flush();
    }
    await flush();
    return { x: tf.tensor2d(rows, [flat.length, dim]), views, computed: done - hits, hits, invalid };
  }

  /** One backbone forward pass over all views in `batch`, concatenated in order. */
  private async embedViews(batch: { img: RawImage; boxes: Box[] }[]): Promise<Float32Array> {
    const out = tf.tidy(() => {
      const inputs = batch.map((b) => viewsToInput(b.img, b.boxes, this.backbone.manifest));
      return this.backbone.embed(inputs.length === 1 ? inputs[0]! : tf.concat(inputs, 0));
    });
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  }

  private trained(): Head {
    this.alive();
    if (!this.head) throw new EdgetuneError('NOT_TRAINED', 'No model yet: call fineTune() or load a model first');
    return this.head;
  }

  /** Class probabilities [n, classes] for the plain view of each source (not cached: predictions are one-off). */
  private async probabilities(sources: (ImageSource | RawImage)[]): Promise<Float32Array> {
    const head = this.trained();
    const k = this.headLabels.length;
    const out = new Float32Array(sources.length * k);
    for (let s = 0; s < sources.length; s += this.embedBatch) {
      const chunk = sources.slice(s, s + this.embedBatch);
      const imgs = await Promise.all(
        chunk.map(async (src, j) => {
          const img = 'load' in src ? await src.load() : src;
          validateRawImage(img, 'load' in src ? src.name : `image ${s + j}`);
          return img;
        }),
      );
      const probs = tf.tidy(() => {
        const inputs = imgs.map((img) => viewsToInput(img, [FULL_VIEW], this.backbone.manifest));
        const emb = this.backbone.embed(inputs.length === 1 ? inputs[0]! : tf.concat(inputs, 0));
        return tf.softmax(head.logits(emb));
      });
      try {
        out.set(await probs.data(), s * k);
      } finally {
        probs.dispose();
      }
    }
    return out;
  }

  /**
   * Top-k predictions for each image, most probable first.
   * @example
   *   await engine.predict([img], { topK: 2 }) // [[{ label: 'cat', probability: 0.93 }, { label: 'dog', probability: 0.05 }]]
   */
  async predict(images: (ImageSource | RawImage)[], opts: { topK?: number } = {}): Promise<Prediction[][]> {
    this.trained();
    const k = this.headLabels.length;
    const topK = opts.topK ?? k;
    if (!Number.isInteger(topK) || topK < 1) throw new EdgetuneError('INVALID_ARGUMENT', `topK must be a positive integer, got ${opts.topK}`);
    const probs = await this.probabilities(images);
    return images.map((_, i) =>
      this.headLabels
        .map((label, c) => ({ label, probability: probs[i * k + c]! }))
        .sort((a, b) => b.probability - a.probability)
        .slice(0, topK),
    );
  }

  /** Accuracy, per-class metrics and confusion matrix on labelled images (labels must be known classes). */
  async evaluate(samples: { label: string; image: ImageSource | RawImage }[]): Promise<EvaluationReport> {
    this.trained();
    if (!samples.length) throw new EdgetuneError('INVALID_ARGUMENT', 'evaluate needs at least one labelled image');
    const index = new Map(this.headLabels.map((l, i) => [l, i]));
    const unknown = [...new Set(samples.map((s) => s.label).filter((l) => !index.has(l)))];
    if (unknown.length) {
      throw new EdgetuneError('INVALID_LABEL', `Labels not in the model: ${unknown.join(', ')} (model labels: ${this.headLabels.join(', ')})`);
    }
    const probs = await this.probabilities(samples.map((s) => s.image));
    const k = this.headLabels.length;
    const predicted = samples.map((_, i) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
      return best;
    });
    return metrics(this.headLabels, samples.map((s) => index.get(s.label)!), predicted);
  }

  /** The model as files (see artifacts.ts); `merged` adds a standalone backbone+head tfjs model. */
  async export(opts: { merged?: boolean; metrics?: Record<string, number> } = {}): Promise<ModelFiles> {
    const head = this.trained();
    return exportModel({
      backbone: this.backbone,
      head,
      labels: this.headLabels,
      ...(this.meta ? { training: this.meta } : {}),
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      merged: opts.merged ?? false,
    });
  }

  /** Replaces the current model with an exported one; on any error the current model stays. */
  async import(files: ModelFiles): Promise<ModelMetadata> {
    this.alive();
    if (this.training) throw new EdgetuneError('BUSY', 'Cannot load a model while fineTune runs');
    const { head, meta } = await importModel(files, this.backbone);
    this.head?.dispose();
    this.head = head;
    this.headLabels = meta.labels;
    this.meta = meta.training;
    return meta;
  }

  /** Frees the head, the backbone and the cache. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.head?.dispose();
    this.head = null;
    this.backbone.dispose();
    this.examples = [];
  }
}
