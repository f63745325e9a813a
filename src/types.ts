// Public options and results shared by the engine, the worker and the main-thread API.
// Types only: importing this module pulls in no code.
import type { AddExamplesOptions, ExampleCounts } from './example-types.js';
import type { ExportOptions, ModelEvaluation } from './export-types.js';
import type { InspectOptions, InspectReport } from './inspect-types.js';

/** A backend edgetune can run on, in order of preference by default. */
export type BackendName = 'webgpu' | 'wasm' | 'cpu';

/** Which backend was chosen, and why every preferred one before it was skipped. */
export interface BackendInfo {
  name: BackendName;
  /** For each backend that was tried and skipped: the reason. */
  reasons: Partial<Record<BackendName, string>>;
  /** Extra facts about the chosen backend (e.g. `simd`, `threads`, `adapter`). */
  details: Record<string, string | number | boolean>;
}

/** Decoded pixels, row-major, 3 (RGB) or 4 (RGBA, alpha ignored) channels. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 3 | 4;
}

/**
 * Training strategy (the PyTorch transfer-learning recipe's three): only the
 * classifier head on the frozen backbone, also the backbone's last blocks, or
 * the whole backbone.
 */
export type Strategy = 'head' | 'partial' | 'full';
/** How the partial and full strategies schedule the backbone's training (`partial.schedule`, `full.schedule`). */
export type PartialSchedule = 'direct' | 'select' | 'select-refit';

/** Options of a strategy that trains backbone layers: FineTuneOptions.partial and FineTuneOptions.full. */
export interface BackboneTrainingOptions {
  /**
   * Partial only: trailing bottleneck blocks to unfreeze besides the final 1x1 conv.
   * 4 is MobileNetV2's last stage (the stride-2 block into 7x7 and the three after it),
   * the counterpart of ResNet's `layer4` in the PyTorch recipe; the default, 6, adds the
   * 14x14 stage's last two blocks, which measured about 2 points better (docs/partial-strategy.md).
   * @default 6
   */
  unfreezeBlocks?: number;
  /**
   * Learning rate of the backbone layers. The head meanwhile continues at the
   * (lower) rate it converged at in the head-only stage.
   * @default partial: learningRate; full: learningRate / 10 (the recipe's lower rate for pretrained layers)
   */
  learningRate?: number;
  /** Epochs of joint backbone + head training (after the head-only stage). @default partial 12, full 6 */
  epochs?: number;
  /**
   * How the backbone's epochs are scheduled.
   * - 'direct': the backbone and the head (refit on train + validation) train once, on
   *   train + validation, for `epochs`; no checkpoint is chosen.
   * - 'select': the PyTorch recipe: they train on the training split and the best-validation
   *   checkpoint is kept (the backbone's only if it beats the head alone).
   * - 'select-refit': 'select', then again from the start on train + validation for the
   *   selected number of epochs: about twice the time of 'direct'.
   * 'direct' and 'select-refit' need validation data and `refit`; without them training is as in 'select'.
   * @default 'direct'
   */
  schedule?: PartialSchedule;
  /** Memory for cached activations at the trainable part's input (fp16); views beyond it are recomputed each epoch. @default 256 MiB */
  cacheBytes?: number;
  /**
   * Most bytes a training step may hold (forward activations kept for the backward pass):
   * a batch that would need more runs as smaller batches with their gradients summed;
   * a single image that needs more fails up front with OUT_OF_MEMORY. @default partial 4 GiB (a whole batch), full 1 GiB
   */
  stepMemoryBytes?: number;
}

export interface FineTuneOptions {
  /** Maximum number of epochs (early stopping usually ends sooner). @default 80 */
  epochs?: number;
  /** Mini-batch size. @default 32 */
  batchSize?: number;
  /** Head learning rate (AdamW). @default 0.0003 */
  learningRate?: number;
  /** Decoupled weight decay (AdamW). @default 0.0001 */
  weightDecay?: number;
  /** Multiply the learning rate by `lrGamma` every `lrStepEpochs` epochs (StepLR). @default 10 */
  lrStepEpochs?: number;
  /** @default 0.5 */
  lrGamma?: number;
  /** Label smoothing for the cross-entropy loss. @default 0.1 */
  labelSmoothing?: number;
  /** Units of an optional hidden ReLU layer; 0 = linear head. @default 0 */
  hiddenUnits?: number;
  /** Dropout before the output layer. @default 0 */
  dropout?: number;
  /**
   * Augmented views (random-resized-crop + flip) cached per image; 0 = off.
   * 'auto': 2 when the smallest class has fewer than 50 training images, else 0
   * (measured: few-shot sets gain from it, tightly framed larger sets lose).
   * @default 'auto'
   */
  augment?: number | 'auto';
  /** Fraction of each class held out for validation when no example is marked `val`. @default 0.15 */
  validationSplit?: number;
  /** Stop after this many epochs without a better validation score. @default 12 */
  patience?: number;
  /** Seed for initialization, shuffling and the validation split. @default 42 */
  seed?: number;
  /**
   * 'head' trains the classifier on frozen features. 'partial' first does that,
   * then also trains the backbone's last blocks with the head (options: `partial`);
   * 'full' trains every backbone layer with the head (options: `full`).
   * @default 'head'
   */
  strategy?: Strategy;
  /** Options of the 'partial' strategy. */
  partial?: BackboneTrainingOptions;
  /** Options of the 'full' strategy. */
  full?: BackboneTrainingOptions;
  /** @deprecated Use `partial.unfreezeBlocks`. */
  unfreezeBlocks?: number;
  /** @deprecated Use `partial.learningRate`. */
  backboneLearningRate?: number;
  /** @deprecated Use `partial.epochs`. */
  partialEpochs?: number;
  /** @deprecated Use `partial.cacheBytes`. */
  prefixCacheBytes?: number;
  /**
   * Class-balanced loss weights (n / (k * n_c)): 'auto' turns them on when the
   * largest class has more than twice the examples of the smallest.
   * @default 'auto'
   */
  classBalance?: 'auto' | 'weights' | 'off';
  /**
   * After picking the epoch count on the validation set, train a fresh head on
   * train + validation for that many epochs (scikit-learn's refit). Off keeps the
   * best-validation checkpoint itself, as the PyTorch recipe does.
   * @default true
   */
  refit?: boolean;
  /** @deprecated Use `partial.schedule`. */
  partialSchedule?: PartialSchedule;
  /**
   * Start from the current model's head when there is one (its classes keep
   * their weights, new classes start at zero): adding a class converges faster.
   * @default true
   */
  warmStart?: boolean;
  /**
   * Skip examples whose image cannot be decoded (reported as 'skip' progress
   * events and in the report) instead of failing with INVALID_IMAGE.
   * @default false
   */
  skipInvalid?: boolean;
  /** Called after the embedding phase steps and after each epoch. */
  onProgress?: (p: Progress) => void;
  /** Cancels training; the previous model stays in place. */
  signal?: AbortSignal;
}

export type Progress =
  | { phase: 'embed'; done: number; total: number; cacheHits: number; prefix?: PrefixCacheInfo }
  | { phase: 'skip'; name: string; reason: string }
  | ({ phase: 'train' } & EpochLog);

/** Where the partial strategy's prefix activations live. */
export interface PrefixCacheInfo {
  /** Views whose activations are cached (fp16, in memory). */
  cached: number;
  /** Views over the budget, recomputed through the frozen prefix every epoch. */
  recomputed: number;
  budgetBytes: number;
}

export interface EpochLog {
  /**
   * 'select' trains the head on the training split with validation; 'refit' on
   * train + validation; 'partial' trains the unfrozen tail and the head together;
   * 'partial-refit' does that again on train + validation for the selected epochs.
   */
  stage?: 'select' | 'refit' | 'partial' | 'partial-refit';
  epoch: number;
  epochs: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  learningRate: number;
  ms: number;
}

export interface TrainingReport {
  labels: string[];
  strategy: Strategy;
  epochsRun: number;
  bestEpoch: number;
  stoppedEarly: boolean;
  history: EpochLog[];
  /** Epochs of the refit stage (train + validation), or null when there was none. */
  refitHistory: EpochLog[] | null;
  trainCount: number;
  validationCount: number;
  bestValAccuracy?: number;
  /** Backbone forward passes computed in this run (cache misses). */
  embeddingsComputed: number;
  /** Embeddings (views) served from the cache. */
  cacheHits: number;
  embedMs: number;
  trainMs: number;
  /**
   * Partial and full strategies: epochs of joint backbone + head training, the activation cache and memory used.
   * `bestEpoch` 0 means the tail did not beat the head-only model on validation,
   * so the head strategy's model (with its refit) was kept. `refitHistory`: the
   * partial refit's epochs (train + validation), null when there was none.
   */
  partial: {
    history: EpochLog[];
    bestEpoch: number;
    headOnlyValAccuracy?: number;
    prefix: PrefixCacheInfo;
    /** Images per forward/backward pass (below batchSize: gradients accumulated), the most bytes tfjs held during a step, and the budget. */
    memory: { microBatch: number; peakBytes: number; stepMemoryBytes: number };
    refitHistory: EpochLog[] | null;
  } | null;
  /** Whether the head started from the previous model's weights (same classes kept, new ones added). */
  warmStarted: boolean;
  /** Open-set rejection: per-class similarity thresholds calibrated for `rejectUnknown`, and on how many examples. */
  openSet: { thresholds: Record<string, number>; calibratedOn: number } | null;
  /** Examples skipped because their image could not be used (with skipInvalid). */
  skipped: { name: string; reason: string }[];
  /** Loss weight per class when class balancing was applied, else null. */
  classWeights: Record<string, number> | null;
  /** Resolved options, as recorded in the exported metadata. */
  config: ResolvedTrainConfig;
}

/** Options as used: every default filled in, `augment` resolved to a number of views. */
/**
 * Options as used: every default filled in, `augment` resolved to a number of
 * views, and the chosen strategy's group (partial or full) resolved into the flat
 * backbone fields (`unfreezeBlocks`: 'all' for full).
 */
export type ResolvedTrainConfig = Required<Omit<FineTuneOptions, 'onProgress' | 'signal' | 'skipInvalid' | 'augment' | 'partial' | 'full' | 'unfreezeBlocks'>> & {
  augment: number;
  unfreezeBlocks: number | 'all';
  stepMemoryBytes: number;
};

export interface Prediction {
  label: string;
  probability: number;
  /**
   * 'prototypes' when no head is trained yet and the answer comes from the
   * nearest class mean in embedding space (instant feedback); absent otherwise.
   */
  basis?: 'prototypes';
}

export interface PredictOptions {
  /** How many classes to return, most probable first. @default all */
  topK?: number;
  /**
   * Put `{ label: UNKNOWN_LABEL }` ('<unknown>', exported by every entry) first when the input's cosine similarity to
   * every class prototype is below the threshold calibrated on the validation
   * split (so ~2% of known validation images would be rejected). @default false
   */
  rejectUnknown?: boolean;
}

export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface EvaluationReport {
  accuracy: number;
  n: number;
  labels: string[];
  perClass: ClassMetrics[];
  /** confusion[trueIndex][predictedIndex] = count. */
  confusion: number[][];
  /** Expected calibration error of the top-1 probability (15 bins); absent for prototype answers. */
  ece?: number;
  /** Images left out because they could not be decoded (with `skipInvalid`); absent when none were. */
  skipped?: { name: string; reason: string }[];
}

export interface EvaluateOptions {
  /**
   * Leave out images that cannot be decoded and list them in `skipped`
   * instead of failing; it still fails (INVALID_IMAGE) when no image is usable.
   * @default false
   */
  skipInvalid?: boolean;
}

/** A model as a set of named files (the same layout as the CLI's model directory). */
export type ModelFiles = Record<string, Uint8Array>;

/** edgetune.json: what an exported model is, what it needs, and every file's sha256. */
export interface ModelMetadata {
  format: 'edgetune-model';
  formatVersion: number;
  edgetuneVersion: string;
  createdAt: string;
  labels: string[];
  backbone: {
    id: string;
    manifestHash: string;
    inputSize: [number, number];
    normalization: { mean: number[]; std: number[] };
    embeddingSize: number;
  };
  preprocessing: { version: number; resize: 'bilinear-squash'; alpha: 'flatten-white' };
  head: { hiddenUnits: number; modelUrl: 'model.json' };
  /** Partial strategy: the fine-tuned backbone tail, float32 weights by graph node name, concatenated in tail.bin. */
  /** The trained part of the backbone: its last `unfreezeBlocks` blocks ('all': the whole backbone, full strategy). */
  tail?: { cutNode: string; unfreezeBlocks: number | 'all'; weightsUrl: 'tail.bin'; weights: { name: string; shape: number[] }[] };
  /** Open-set rejection: class prototypes (float32 [classes, features] in prototypes.bin) and the calibrated cosine threshold. */
  openSet?: { thresholds: number[]; calibratedOn: number; prototypesUrl: 'prototypes.bin' };
  training?: {
    config: ResolvedTrainConfig;
    epochsRun: number;
    bestEpoch: number;
    bestValAccuracy?: number;
    /** Usable examples per class and split the model was trained on. */
    counts?: ExampleCounts;
  };
  metrics?: Record<string, number>;
  /** The held-out evaluation given at export (ExportOptions.evaluation): what the model card reports. */
  evaluation?: ModelEvaluation;
  merged?: { modelUrl: string; input: string; output: string };
  /** sha256 of every other file in the export. */
  files: Record<string, { sha256: string; bytes: number }>;
}

/** Examples per class and split. */
/** Tensors and bytes held by tfjs, the embedding cache, and the backend in use now. */
export interface ClassifierStats {
  /** After a lost WebGPU device: the fallback, with the reason under `reasons.webgpu`. */
  backend: BackendInfo;
  numTensors: number;
  numBytes: number;
  cache: { entries: number; bytes: number; hits: number; misses: number };
}

/**
 * The one API shape of a classifier, whatever runs it: the engine in this
 * thread (images are ImageSources or raw pixels) or the worker behind
 * createClassifier (images are what a page has). Method names, arguments and
 * results are the same; the differences are in the image type and in what
 * only a page has (a worker to restart, IndexedDB to save to).
 */
export interface ClassifierApi<Image> {
  /** The backend in use and why preferred ones were skipped. */
  readonly backend: BackendInfo;
  /** Adds images of one class; returns the examples per class after the call. */
  addExamples(label: string, images: Image[], opts?: AddExamplesOptions): Promise<ExampleCounts>;
  /** Removes every example of a class; returns how many were removed. */
  removeClass(label: string): Promise<number>;
  /** Removes examples by the ids inspect() reports (InspectItem.id); returns how many. An unknown id: INVALID_ARGUMENT, nothing removed. */
  removeExamples(ids: number[]): Promise<number>;
  /** Gives examples (by InspectItem.id) another label, e.g. inspect()'s suggestion; a new label makes a new class. */
  relabelExamples(ids: number[], label: string): Promise<number>;
  /** Trains on the examples; the previous model stays in use until it succeeds, and after a failure or abort. */
  fineTune(opts?: FineTuneOptions): Promise<TrainingReport>;
  /** Top-k classes, most probable first; before training, answers from class prototypes (`basis: 'prototypes'`). */
  predict(image: Image, opts?: PredictOptions): Promise<Prediction[]>;
  predictBatch(images: Image[], opts?: PredictOptions): Promise<Prediction[][]>;
  /** Accuracy, per-class metrics, confusion matrix and calibration on labelled images of known classes. */
  evaluate(samples: { label: string; image: Image }[], opts?: EvaluateOptions): Promise<EvaluationReport>;
  /**
   * What is wrong with the examples and what to add next: duplicates (exact and near, and
   * those across splits), likely label errors (confident learning on out-of-fold heads),
   * outliers, confusable classes, per-class advice and, given a pool, the order to label it in.
   * Uses the cached embeddings: after fineTune it runs no backbone pass.
   */
  inspect(opts?: InspectOptions<Image>): Promise<InspectReport>;
  /** The model as files: edgetune.json, model.json, weights.bin (tail.bin, prototypes.bin; merged/ with `merged`). */
  export(opts?: ExportOptions): Promise<ModelFiles>;
  /** Replaces the model with exported files; on any error the current model stays. */
  import(files: ModelFiles): Promise<ModelMetadata>;
  /** Empties the embedding caches (memory and persistent); models are untouched. */
  clearCache(): Promise<void>;
  stats(): Promise<ClassifierStats>;
  /** Frees everything; idempotent; later calls reject with DISPOSED. */
  dispose(): Promise<void>;
}

export type * from './example-types.js';
export type * from './inspect-types.js';
export type * from './export-types.js';
