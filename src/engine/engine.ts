// The engine's stateful classifier: examples in, trained head out. No DOM and
// no Comlink: the browser worker, the CLI and Node users all drive this class.
import * as tf from '@tensorflow/tfjs-core';
import { UNKNOWN_LABEL } from '../constants.js';
import { EdgetuneError } from '../errors.js';
import type {
  BackendInfo,
  EpochLog,
  PrefixCacheInfo,
  EvaluateOptions,
  EvaluationReport,
  FineTuneOptions,
  ModelFiles,
  Prediction,
  PredictOptions,
  RawImage,
  ResolvedTrainConfig,
  TrainingReport,
} from '../types.js';
import { exportModel, importModel, type ModelMetadata } from './model/artifacts.js';
import { loadBackbone, type Backbone, type BackboneLoadOptions } from './model/backbone.js';
import { selectBackend, type BackendOptions } from './backend.js';
import { decodeHalf, EmbeddingCache, embeddingKey, encodeHalf, type EmbeddingStore } from './data/embed-cache.js';
import { expectedCalibrationError, metrics } from './train/metrics.js';
import { OpenSet, PROTOTYPE_TEMPERATURE } from './model/open-set.js';
import { checkLabel, type Example, type ImageSource } from './data/examples.js';
import { featureStats, Head } from './model/head.js';
import { DEFAULT_BACKBONE } from './model/manifest.js';
import { FULL_VIEW, augmentBox, validateRawImage, viewsToInput, type Box } from './data/preprocess.js';
import { createRng, shuffle } from './util/random.js';
import { PrefixCache } from './data/prefix-cache.js';
import { Tail } from './model/tail.js';
import { tensorFromHalves } from './kernels/wasm-kernels.js';
import { balancedClassWeights, throwIfAborted, trainHead, yieldToEventLoop, type TailFeed, type TrainData } from './train/loop.js';

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

/** Below this many training images in the smallest class, `augment: 'auto'` caches augmented views. */
export const AUTO_AUGMENT_BELOW = 50;
export const AUTO_AUGMENT_VIEWS = 2;

export const TRAIN_DEFAULTS: Omit<ResolvedTrainConfig, 'augment'> & { augment: number | 'auto' } = {
  epochs: 80,
  batchSize: 32,
  learningRate: 3e-4,
  weightDecay: 1e-4,
  lrStepEpochs: 10,
  lrGamma: 0.5,
  labelSmoothing: 0.1,
  hiddenUnits: 0,
  dropout: 0,
  augment: 'auto',
  validationSplit: 0.15,
  patience: 12,
  seed: 42,
  strategy: 'head',
  classBalance: 'auto',
  refit: true,
  // Partial defaults from a sweep of depth, rate and epochs (bench/gpu-study), the depth
  // settled by seeded engine runs on fashion-dev (README).
  unfreezeBlocks: 6,
  backboneLearningRate: 3e-4,
  partialEpochs: 20,
  prefixCacheBytes: 256 * 1024 * 1024,
  warmStart: true,
};

/**
 * Resolves fineTune options against the defaults, naming the first invalid one.
 * `augment: 'auto'` stays unresolved (-1) until the class sizes are known.
 */
export function resolveTrainConfig(opts: FineTuneOptions = {}): ResolvedTrainConfig {
  const cfg = { ...TRAIN_DEFAULTS } as unknown as ResolvedTrainConfig;
  for (const key of Object.keys(TRAIN_DEFAULTS) as (keyof ResolvedTrainConfig)[]) {
    if (opts[key] !== undefined) (cfg as Record<string, unknown>)[key] = opts[key];
  }
  // The backbone learns at the head's initial rate. The PyTorch recipe's 10x lower
  // rate assumes a head at that rate; ours continues at its converged rate (lower
  // still), and learningRate / 10 never beat the head-only model on fashion-dev.
  if (opts.backboneLearningRate === undefined) cfg.backboneLearningRate = cfg.learningRate;
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
  if ((cfg.augment as number | 'auto') === 'auto') cfg.augment = -1;
  else int('augment', 0, 16);
  num('validationSplit', 0, 0.5);
  int('patience', 1, 10_000);
  int('seed', 0, 2 ** 31 - 1);
  for (const k of ['refit', 'warmStart'] as const) {
    if (typeof cfg[k] !== 'boolean') throw new EdgetuneError('INVALID_ARGUMENT', `${k} must be a boolean, got ${cfg[k]}`);
  }
  if (cfg.strategy !== 'head' && cfg.strategy !== 'partial') {
    throw new EdgetuneError('INVALID_ARGUMENT', `strategy must be 'head' or 'partial', got '${cfg.strategy}'`);
  }
  int('unfreezeBlocks', 0, 64);
  num('backboneLearningRate', 0, 10);
  int('partialEpochs', 1, 10_000);
  num('prefixCacheBytes', 0, 2 ** 40);
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

const nameOf = (img: ImageSource | RawImage, i: number) => ('name' in img ? img.name : `image ${i}`);

/** A short, file-name-safe FNV-1a hash (of a graph node name, for cache keys). */
function shortHash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** The result of embedding every view of every example. */
interface Embedded {
  /** Embeddings of every view, one row each. */
  x: tf.Tensor2D;
  /** Rows of `x` per example; views[i][0] is the plain view. */
  views: number[][];
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

export class Engine {
  private examples: Example[] = [];
  private head: Head | null = null;
  /** The fine-tuned backbone tail that goes with `head` (partial strategy), else null. */
  private tail: Tail | null = null;
  private headLabels: string[] = [];
  /** Class prototypes and the calibrated rejection threshold of the current model. */
  private openSet: OpenSet | null = null;
  /** Bumped on every change to the examples: keys the instant-feedback prototypes. */
  private examplesVersion = 0;
  private instant: { version: number; labels: string[]; openSet: OpenSet } | null = null;
  private prefixCache: PrefixCache;
  private readonly store: EmbeddingStore | undefined;
  private meta: ModelMetadata['training'] | undefined;
  private training = false;
  private disposed = false;
  readonly cache: EmbeddingCache;
  /** Plain views that predict and evaluate took from the caches, or ran through the backbone. */
  readonly inferenceCounts = { cached: 0, computed: 0 };
  private readonly embedBatch: number;

  /** Use createEngine(). */
  constructor(
    readonly backend: BackendInfo,
    readonly backbone: Backbone,
    opts: EngineOptions = {},
  ) {
    this.cache = new EmbeddingCache(opts.cacheBudgetBytes, opts.embeddingStore);
    this.store = opts.embeddingStore;
    this.prefixCache = new PrefixCache(undefined, this.store);
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
    this.examplesVersion++;
    return this.counts();
  }

  /** Removes every example of a class; returns how many were removed. */
  removeClass(label: string): number {
    this.alive();
    const before = this.examples.length;
    this.examples = this.examples.filter((e) => e.label !== label);
    this.examplesVersion++;
    return before - this.examples.length;
  }

  /** The examples as added (sources keep their decoded pixels): for moving them to a new engine. */
  get exampleList(): readonly Example[] {
    return [...this.examples];
  }

  /** Adds examples taken from another engine's `exampleList` (e.g. after a backend change). */
  adoptExamples(list: readonly Example[]): void {
    this.alive();
    this.examples.push(...list);
    this.examplesVersion++;
  }

  clearExamples(): void {
    this.examples = [];
    this.examplesVersion++;
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
    } catch (err) {
      // Once aborted, whatever surfaces while work unwinds (on WebGPU: a pending
      // buffer read cancelled) is the abort; the previous model is untouched either way.
      if (opts.signal?.aborted && !(err instanceof EdgetuneError)) {
        throw new EdgetuneError('ABORTED', 'fineTune was aborted; the previous model is unchanged', { cause: err });
      }
      throw err;
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
    if (cfg.augment < 0) {
      const smallest = Math.min(...labels.map((_, c) => trainIdx.filter((i) => y[i] === c).length));
      cfg = { ...cfg, augment: smallest < AUTO_AUGMENT_BELOW ? AUTO_AUGMENT_VIEWS : 0 };
    }
    // Partial strategy: rebuild (and check) the tail before any expensive work.
    const tail = cfg.strategy === 'partial' ? await Tail.fromBackbone(this.backbone, cfg.unfreezeBlocks) : null;
    try {
      // Views: the plain image for every example, plus `augment` crops for training examples.
      const isTrain = new Set(trainIdx);
      // With refit, validation examples are trained on too, so they need augmented views as well.
      // (Also with a tail: when the tail is not kept, the result must be exactly the head strategy's.)
      const augmented = (i: number) => isTrain.has(i) || cfg.refit;
      const viewIds = this.examples.map((_, i) => (augmented(i) ? Array.from({ length: cfg.augment + 1 }, (_, v) => v) : [0]));
      const t0 = performance.now();
      const sources = this.examples.map((e) => e.source);
      const emb = await this.embedAll(sources, viewIds, opts, tail ? { tail, budgetBytes: cfg.prefixCacheBytes } : undefined);
      const embedMs = performance.now() - t0;
      try {
        const usable = (i: number) => !emb.invalid.has(i);
        return await this.trainOn(labels, y, emb, trainIdx.filter(usable), valIdx.filter(usable), cfg, opts, tail, {
          embedMs,
          computed: emb.computed,
          hits: emb.hits,
          skipped: [...emb.invalid].map(([i, reason]) => ({ name: this.examples[i]!.source.name, reason })),
        });
      } finally {
        emb.x.dispose();
      }
    } catch (err) {
      tail?.dispose();
      throw err;
    }
  }

  private async trainOn(
    labels: string[],
    y: Int32Array,
    emb: Embedded,
    trainIdx: number[],
    valIdx: number[],
    cfg: ResolvedTrainConfig,
    opts: FineTuneOptions,
    tail: Tail | null,
    embedInfo: { embedMs: number; computed: number; hits: number; skipped: TrainingReport['skipped'] },
  ): Promise<TrainingReport> {
    const { x, views } = emb;
    const empty = labels.filter((_, c) => !trainIdx.some((i) => y[i] === c));
    if (empty.length) throw new EdgetuneError('TOO_FEW_CLASSES', `No usable training images for: ${empty.join(', ')}`);

    const counts = labels.map((_, c) => trainIdx.filter((i) => y[i] === c).length);
    const imbalanced = Math.max(...counts) > 2 * Math.min(...counts);
    const balance = cfg.classBalance === 'weights' || (cfg.classBalance === 'auto' && imbalanced);
    const classWeights = balance ? balancedClassWeights(counts) : new Float32Array(labels.length).fill(1);
    const t1 = performance.now();
    const data: TrainData = { x, labels: y, views, trainIdx, valIdx, numClasses: labels.length, classWeights };

    // Stage 1: train on the training split, pick the epoch by validation.
    const warmStarted = this.warmStartFrom(labels, cfg);
    const select = await this.trainStage(labels, data, cfg, opts, 'select');
    let head = select.head;
    let refitHistory: EpochLog[] | undefined;
    let partial: TrainingReport['partial'] = null;
    let keptTail: Tail | null = null;
    // The tail's starting weights, for the partial refit (train + val from the same start).
    let tailStart: tf.Tensor[] | null = null;
    const doRefit = cfg.refit && valIdx.length > 0;
    // The head continues at the rate it converged at (its StepLR value at the
    // selected epoch): restarting it at the initial rate knocks it off its optimum.
    const headLr = cfg.learningRate * cfg.lrGamma ** Math.floor((Math.max(1, select.result.bestEpoch) - 1) / cfg.lrStepEpochs);
    const stageCfg = { ...cfg, epochs: cfg.partialEpochs, learningRate: headLr };
    try {
      if (tail) {
        // Stage 2 (partial): the tail and a copy of the head together, from the
        // head-only result, checkpointed on validation (its start included).
        const tuned = head.clone();
        if (doRefit) tailStart = tail.snapshot();
        try {
          const res = await trainHead(
            tuned,
            data,
            stageCfg,
            { signal: opts.signal, onEpoch: (log) => opts.onProgress?.({ phase: 'train', ...log, stage: 'partial' }) },
            this.tailFeed(tail, emb, stageCfg),
          );
          partial = {
            history: res.history,
            bestEpoch: res.bestEpoch,
            ...(select.result.bestValAccuracy !== undefined ? { headOnlyValAccuracy: select.result.bestValAccuracy } : {}),
            prefix: emb.prefix!,
            refitHistory: null,
          };
          // The tail is kept only if it beat the head-only start on validation.
          if (res.bestEpoch > 0 || valIdx.length === 0) {
            head.dispose();
            head = tuned;
            keptTail = tail;
          } else {
            tuned.dispose();
          }
        } catch (err) {
          tuned.dispose();
          throw err;
        }
      }
      if (doRefit) {
        // Refit: a fresh head on train + val for the selected number of epochs, as
        // scikit-learn's refit after model selection (few-shot sets gain most); with
        // a kept tail, then the tail from its starting weights and that head on
        // train + val for the selected partial epochs.
        const all = [...trainIdx, ...valIdx].sort((a, b) => a - b);
        const allCounts = labels.map((_, c) => all.filter((i) => y[i] === c).length);
        const weights = balance ? balancedClassWeights(allCounts) : classWeights;
        const allData = { ...data, trainIdx: all, valIdx: [], classWeights: weights };
        const refit = await this.trainStage(labels, allData, { ...cfg, epochs: select.result.bestEpoch }, opts, 'refit');
        try {
          if (keptTail && partial) {
            keptTail.restore(tailStart!);
            const res = await trainHead(
              refit.head,
              allData,
              { ...stageCfg, epochs: partial.bestEpoch },
              { signal: opts.signal, onEpoch: (log) => opts.onProgress?.({ phase: 'train', ...log, stage: 'partial-refit' }) },
              this.tailFeed(keptTail, emb, stageCfg),
            );
            partial.refitHistory = res.history;
          }
        } catch (err) {
          refit.head.dispose();
          throw err;
        }
        head.dispose();
        head = refit.head;
        refitHistory = refit.result.history;
      }
      throwIfAborted(opts.signal);
    } catch (err) {
      head.dispose();
      throw err;
    } finally {
      tf.dispose(tailStart ?? []);
    }
    if (tail && !keptTail) tail.dispose();
    let openSet: OpenSet;
    try {
      openSet = await OpenSet.fit(labels.length, y, trainIdx, valIdx, (rows) => this.featuresOfRows(rows, emb, keptTail, cfg), views);
      throwIfAborted(opts.signal);
    } catch (err) {
      head.dispose();
      keptTail?.dispose();
      throw err;
    }
    // Success: swap the new model in, only now.
    const result = select.result;
    this.head?.dispose();
    this.tail?.dispose();
    this.head = head;
    this.tail = keptTail;
    this.headLabels = labels;
    this.openSet?.dispose();
    this.openSet = openSet;
    const bestValAccuracy = partial ? Math.max(...partial.history.map((h) => h.valAccuracy ?? -1), result.bestValAccuracy ?? -1) : result.bestValAccuracy;
    this.meta = {
      config: cfg,
      epochsRun: result.history.length,
      bestEpoch: result.bestEpoch,
      ...(bestValAccuracy !== undefined && bestValAccuracy >= 0 ? { bestValAccuracy } : {}),
    };
    return {
      labels,
      strategy: cfg.strategy,
      epochsRun: result.history.length,
      bestEpoch: result.bestEpoch,
      stoppedEarly: result.stoppedEarly,
      history: result.history,
      refitHistory: refitHistory ?? null,
      partial,
      warmStarted,
      openSet: { thresholds: Object.fromEntries(labels.map((l, c) => [l, openSet.thresholds[c]!])), calibratedOn: openSet.calibratedOn },
      trainCount: trainIdx.length,
      validationCount: valIdx.length,
      ...(this.meta.bestValAccuracy !== undefined ? { bestValAccuracy: this.meta.bestValAccuracy } : {}),
      embeddingsComputed: embedInfo.computed,
      cacheHits: embedInfo.hits,
      embedMs: embedInfo.embedMs,
      trainMs: performance.now() - t1,
      skipped: embedInfo.skipped,
      classWeights: balance ? Object.fromEntries(labels.map((l, i) => [l, classWeights[i]!])) : null,
      config: cfg,
    };
  }

  /** Features (what the head sees) of rows of the view table: cached embeddings, or the tail over prefix activations. */
  private async featuresOfRows(rows: number[], emb: Embedded, tail: Tail | null, cfg: ResolvedTrainConfig): Promise<tf.Tensor2D> {
    if (!tail) return tf.gather(emb.x, rows);
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
  private tailFeed(tail: Tail, emb: Embedded, cfg: ResolvedTrainConfig): TailFeed {
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
          const imgs = await Promise.all(missing.map((j) => this.examples[emb.rowSource[rows[j]!]!.example]!.source.load()));
          const pre = tf.tidy(() => {
            const inputs = missing.map((j, k) => {
              const { example, view } = emb.rowSource[rows[j]!]!;
              const img = imgs[k]!;
              const box = view === 0 ? FULL_VIEW : augmentBox(this.examples[example]!.source.hash, view, img.width, img.height);
              return viewsToInput(img, [box], this.backbone.manifest);
            });
            return this.backbone.prefix(inputs.length === 1 ? inputs[0]! : tf.concat(inputs, 0), tail.plan.cutNode);
          });
          const data = await pre.data();
          pre.dispose();
          missing.forEach((j, k) => buf.set(data.subarray(k * per, (k + 1) * per), j * per));
        }
        return tf.tensor4d(buf, [rows.length, h, w, c]);
      },
    };
  }

  /** One head training run; the returned head is the caller's to keep or dispose. */
  private async trainStage(labels: string[], data: TrainData, cfg: ResolvedTrainConfig, opts: FineTuneOptions, stage: EpochLog['stage']) {
    const head = this.warmStartFrom(labels, cfg)
      ? await Head.warmFrom(this.head!, this.headLabels, labels, await this.classMeans(labels.filter((l) => !this.headLabels.includes(l)), labels, data))
      : Head.create(
          { inputSize: this.backbone.manifest.embeddingSize, numClasses: labels.length, hiddenUnits: cfg.hiddenUnits },
          // The head takes ownership of the statistics tensors.
          tf.tidy(() => featureStats(tf.gather(data.x, data.trainIdx.map((i) => data.views[i]![0]!)))),
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

  /** Mean plain-view embedding of each of `wanted` classes over the training split (for imprinting). */
  private async classMeans(wanted: string[], labels: string[], data: TrainData): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const l of wanted) {
      const c = labels.indexOf(l);
      const rows = data.trainIdx.filter((i) => data.labels[i] === c).map((i) => data.views[i]![0]!);
      if (!rows.length) continue;
      const m = tf.tidy(() => tf.mean(tf.gather(data.x, rows), 0));
      out.set(l, (await m.data()) as Float32Array);
      m.dispose();
    }
    return out;
  }

  /**
   * Whether the next head starts from the current one: it must exist, work on
   * frozen embeddings (no fine-tuned tail), have the same shape and share a class.
   */
  private warmStartFrom(labels: string[], cfg: ResolvedTrainConfig): boolean {
    return (
      cfg.warmStart &&
      this.head !== null &&
      this.tail === null &&
      this.head.spec.hiddenUnits === cfg.hiddenUnits &&
      labels.some((l) => this.headLabels.includes(l))
    );
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
   * backbone pass runs once, whatever the number of epochs or runs. With a
   * tail, the same pass also fills the prefix-activation cache up to its budget.
   */
  private async embedAll(
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

    // Prefix activations: keep this run's views, fill up to the budget in row order.
    const cut = partial?.tail.plan.cutNode;
    const cutTag = cut ? shortHash(cut) : '';
    const prefixKeys = cut ? flat.map((k) => `${k}-t${cutTag}`) : [];
    const wantPrefix = new Set<number>();
    let prefix: PrefixCacheInfo | undefined;
    if (partial) {
      if (this.prefixCache.budgetBytes !== partial.budgetBytes) this.prefixCache = new PrefixCache(partial.budgetBytes, this.store);
      this.prefixCache.retain(new Set(prefixKeys));
      const [h, w, c] = partial.tail.prefixShape;
      await this.prefixCache.preload(prefixKeys.slice(0, this.prefixCache.capacity(h * w * c)));
      let slots = this.prefixCache.capacity(h * w * c);
      prefixKeys.forEach((k, row) => {
        if (slots <= 0) return;
        slots--;
        if (!this.prefixCache.has(k)) wantPrefix.add(row);
      });
      const cached = Math.min(flat.length, this.prefixCache.capacity(h * w * c));
      prefix = { cached, recomputed: flat.length - cached, budgetBytes: partial.budgetBytes };
    }
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
    return { x: tf.tensor2d(rows, [flat.length, dim]), views, computed, hits, invalid, rowSource, prefixKeys, ...(prefix ? { prefix } : {}) };
  }

  /** One backbone forward pass over all views in `batch`, concatenated in order (with prefix activations when `cutNode` is set). */
  private async embedViews(batch: { img: RawImage; boxes: Box[] }[], cutNode?: string): Promise<{ embedding: Float32Array; prefix?: Float32Array }> {
    const out = tf.tidy(() => {
      const inputs = batch.map((b) => viewsToInput(b.img, b.boxes, this.backbone.manifest));
      const x = inputs.length === 1 ? inputs[0]! : tf.concat(inputs, 0);
      if (!cutNode) return [this.backbone.embed(x)];
      const r = this.backbone.embedWithPrefix(x, cutNode);
      return [r.embedding, r.prefix];
    });
    try {
      const [embedding, prefix] = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
      return { embedding: embedding!, ...(prefix ? { prefix } : {}) };
    } finally {
      tf.dispose(out);
    }
  }

  private trained(): Head {
    this.alive();
    if (!this.head) throw new EdgetuneError('NOT_TRAINED', 'No model yet: call fineTune() or load a model first');
    return this.head;
  }

  /**
   * Class probabilities [n, classes] for the plain view of each source, and the
   * best cosine similarity to a class prototype. Sources with a content hash
   * (files, examples) read and fill the caches training uses: the embedding
   * cache, or for a fine-tuned tail the persistent store's prefix activations;
   * raw pixels (camera frames) are computed and forgotten.
   * Without a trained head, answers come from the examples' prototypes.
   */
  private async probabilities(
    sources: (ImageSource | RawImage)[],
    skipInvalid = false,
  ): Promise<{ labels: string[]; probs: Float32Array; bestSim: Float32Array; bestClass: Int32Array; basis?: 'prototypes'; invalid: Map<number, string> }> {
    this.alive();
    const model = this.head ? { head: this.head, tail: this.tail, openSet: this.openSet, labels: this.headLabels } : await this.instantModel();
    const k = model.labels.length;
    const probs = new Float32Array(sources.length * k);
    const bestSim = new Float32Array(sources.length);
    const bestClass = new Int32Array(sources.length);
    const invalid = new Map<number, string>();
    for (let s = 0; s < sources.length; s += this.embedBatch) {
      const chunk = sources.slice(s, s + this.embedBatch);
      const features = await this.inferenceFeatures(chunk, s, model.tail, skipInvalid ? invalid : null);
      // One read per chunk (on WebGPU each read is a GPU round trip): probabilities, then similarities.
      const out = tf.tidy(() => {
        const emb = model.tail ? model.tail.apply(features as tf.Tensor4D) : (features as tf.Tensor2D);
        const sims = model.openSet?.similarities(emb);
        const p = model.head ? tf.softmax(model.head.logits(emb)) : tf.softmax(tf.mul(sims!, PROTOTYPE_TEMPERATURE));
        return sims ? tf.concat([p, sims], 1) : p;
      });
      features.dispose();
      let vals: Float32Array;
      try {
        vals = (await out.data()) as Float32Array;
      } finally {
        out.dispose();
      }
      const width = model.openSet ? 2 * k : k;
      chunk.forEach((_, i) => {
        probs.set(vals.subarray(i * width, i * width + k), (s + i) * k);
        let best = 0;
        for (let c = 1; model.openSet && c < k; c++) if (vals[i * width + k + c]! > vals[i * width + k + best]!) best = c;
        bestSim[s + i] = model.openSet ? vals[i * width + k + best]! : 1;
        bestClass[s + i] = best;
      });
    }
    return { labels: model.labels, probs, bestSim, bestClass, invalid, ...(model.head ? {} : { basis: 'prototypes' as const }) };
  }

  /**
   * What the model's trainable part reads for each source's plain view: the
   * embedding [n, d] (head only) or the prefix activations [n, h, w, c] (with a
   * tail), from the caches where the source has a hash, else from the backbone.
   * With `invalid`, undecodable images are recorded there (by index) and get zeros.
   */
  private async inferenceFeatures(
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
      const computed = tf.tidy(() => {
        const inputs = imgs.map((img) => viewsToInput(img, [FULL_VIEW], this.backbone.manifest));
        const x = inputs.length === 1 ? inputs[0]! : tf.concat(inputs, 0);
        return tail ? this.backbone.prefix(x, tail.plan.cutNode) : this.backbone.embed(x);
      });
      const values = (await computed.data().finally(() => computed.dispose())) as Float32Array;
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
  private inferenceKey(hash: string, tail: Tail | null): string | null {
    const key = embeddingKey(this.backbone, hash, 0);
    if (!tail) return key;
    // Prefix activations are only worth keeping where they persist (they are large).
    return this.store ? `${key}-t${shortHash(tail.plan.cutNode)}` : null;
  }

  private async readInferenceCache(keys: string[], tail: Tail | null): Promise<(Float32Array | undefined)[]> {
    if (!keys.length) return [];
    if (!tail) return this.cache.getMany(keys);
    return (await this.store!.getMany(keys)).map((b) => decodeHalf(b));
  }

  private async writeInferenceCache(entries: [string, Float32Array][], tail: Tail | null): Promise<void> {
    if (!entries.length) return;
    if (!tail) return this.cache.putMany(entries);
    await this.store!.putMany(entries.map(([k, v]) => [k, encodeHalf(v)]));
  }

  /** Instant feedback before training: prototypes of the current examples' plain views (cached embeddings). */
  private async instantModel(): Promise<{ head: null; tail: null; openSet: OpenSet; labels: string[] }> {
    if (this.instant?.version !== this.examplesVersion) {
      const labels = [...new Set(this.examples.map((e) => e.label))];
      if (!labels.length) throw new EdgetuneError('NOT_TRAINED', 'No model and no examples yet: add examples or load a model first');
      const version = this.examplesVersion;
      const y = Int32Array.from(this.examples, (e) => labels.indexOf(e.label));
      const emb = await this.embedAll(this.examples.map((e) => e.source), this.examples.map(() => [0]));
      try {
        const all = this.examples.map((_, i) => i).filter((i) => !emb.invalid.has(i));
        const openSet = await OpenSet.fit(labels.length, y, all, [], async (rows) => tf.gather(emb.x, rows), emb.views);
        this.instant?.openSet.dispose();
        this.instant = { version, labels, openSet };
      } finally {
        emb.x.dispose();
      }
    }
    return { head: null, tail: null, openSet: this.instant!.openSet, labels: this.instant!.labels };
  }

  /**
   * Top-k predictions for each image, most probable first. Before any training,
   * answers come from class prototypes (`basis: 'prototypes'`).
   * @example
   *   await engine.predict([img], { topK: 2 }) // [[{ label: 'cat', probability: 0.93 }, { label: 'dog', probability: 0.05 }]]
   */
  async predict(images: (ImageSource | RawImage)[], opts: PredictOptions = {}): Promise<Prediction[][]> {
    this.alive();
    const topK = opts.topK ?? Infinity;
    if (opts.topK !== undefined && (!Number.isInteger(topK) || topK < 1)) {
      throw new EdgetuneError('INVALID_ARGUMENT', `topK must be a positive integer, got ${opts.topK}`);
    }
    const { labels, probs, bestSim, bestClass, basis } = await this.probabilities(images);
    const k = labels.length;
    const thresholds = (this.head ? this.openSet : this.instant?.openSet)?.thresholds;
    return images.map((_, i) => {
      const ranked: Prediction[] = labels
        .map((label, c) => ({ label, probability: probs[i * k + c]!, ...(basis ? { basis } : {}) }))
        .sort((a, b) => b.probability - a.probability)
        .slice(0, topK);
      // Far from its best class (below that class's calibrated similarity): unknown.
      if (opts.rejectUnknown && thresholds && bestSim[i]! < thresholds[bestClass[i]!]!) ranked.unshift({ label: UNKNOWN_LABEL, probability: 1 - ranked[0]!.probability });
      return ranked;
    });
  }

  /** Accuracy, per-class metrics, confusion matrix and calibration (ECE) on labelled images (labels must be known classes). */
  async evaluate(samples: { label: string; image: ImageSource | RawImage }[], opts: EvaluateOptions = {}): Promise<EvaluationReport> {
    this.trained();
    if (!samples.length) throw new EdgetuneError('INVALID_ARGUMENT', 'evaluate needs at least one labelled image');
    const index = new Map(this.headLabels.map((l, i) => [l, i]));
    const unknown = [...new Set(samples.map((s) => s.label).filter((l) => !index.has(l)))];
    if (unknown.length) {
      throw new EdgetuneError('INVALID_LABEL', `Labels not in the model: ${unknown.join(', ')} (model labels: ${this.headLabels.join(', ')})`);
    }
    // The labels the model had when it started: a fineTune finishing meanwhile must not relabel the answers.
    const labels = this.headLabels;
    const { probs, invalid } = await this.probabilities(samples.map((s) => s.image), opts.skipInvalid ?? false);
    const used = samples.map((_, i) => i).filter((i) => !invalid.has(i));
    if (!used.length) throw new EdgetuneError('INVALID_IMAGE', `None of the ${samples.length} images could be read (${[...invalid.values()][0]})`);
    const k = labels.length;
    const truth = used.map((i) => index.get(samples[i]!.label)!);
    const predicted = used.map((i) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
      return best;
    });
    const confidence = predicted.map((c, j) => probs[used[j]! * k + c]!);
    const skipped = [...invalid].map(([i, reason]) => ({ name: nameOf(samples[i]!.image, i), reason }));
    return {
      ...metrics(labels, truth, predicted),
      ece: expectedCalibrationError(confidence, predicted.map((c, j) => c === truth[j])),
      ...(skipped.length ? { skipped } : {}),
    };
  }

  /** The model as files (see artifacts.ts); `merged` adds a standalone backbone+head tfjs model. */
  async export(opts: { merged?: boolean; metrics?: Record<string, number> } = {}): Promise<ModelFiles> {
    const head = this.trained();
    return exportModel({
      backbone: this.backbone,
      head,
      tail: this.tail,
      openSet: this.openSet,
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
    const { head, tail, openSet, meta } = await importModel(files, this.backbone);
    this.head?.dispose();
    this.tail?.dispose();
    this.openSet?.dispose();
    this.head = head;
    this.tail = tail;
    this.openSet = openSet;
    this.headLabels = meta.labels;
    this.meta = meta.training;
    return meta;
  }

  /** Empties the embedding and prefix caches, in memory and in the persistent store. */
  async clearCache(): Promise<void> {
    this.alive();
    this.prefixCache.clear();
    await this.cache.clear();
  }

  /** Frees the head, the backbone and the cache. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.head?.dispose();
    this.tail?.dispose();
    this.openSet?.dispose();
    this.instant?.openSet.dispose();
    this.head = null;
    this.tail = null;
    this.openSet = null;
    this.instant = null;
    this.prefixCache.clear();
    this.backbone.dispose();
    this.examples = [];
  }
}
