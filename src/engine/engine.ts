// The engine: examples in, a trained model out, predictions from it. No DOM and
// no Comlink: the browser worker, the CLI and Node users all drive this class.
// Training is the pipeline in train/pipeline.ts; the engine keeps the examples,
// the model in use (swapped whole when a fine-tune succeeds) and inference.
import * as tf from '@tensorflow/tfjs-core';
import { EdgetuneError } from '../errors.js';
import type {
  AddExamplesOptions,
  BackendInfo,
  ClassifierApi,
  ClassifierStats,
  EvaluateOptions,
  EvaluationReport,
  ExampleCounts,
  ExportOptions,
  InspectOptions,
  InspectReport,
  FineTuneOptions,
  ModelFiles,
  ModelMetadata,
  Prediction,
  PredictOptions,
  RawImage,
  TrainingReport,
} from '../types.js';
import { selectBackend, type BackendOptions } from './backend.js';
import { inspectSources, type InspectSource } from './inspect/run.js';
import { Embedder } from './data/embed.js';
import { EmbeddingCache, type EmbeddingStore } from './data/embed-cache.js';
import { checkLabel, pixelSource, type Example, type ImageSource } from './data/examples.js';
import { rank, score, top1 } from './inference.js';
import { importModel } from './model/artifacts.js';
import { exportFiles } from './model/export-formats.js';
import { loadBackbone, type Backbone, type BackboneLoadOptions } from './model/backbone.js';
import { DEFAULT_BACKBONE } from './model/manifest.js';
import { tfjsForward, type BackboneForward, type ForwardFactory } from './model/forward.js';
import { OpenSet } from './model/open-set.js';
import { PrototypeModel, TrainedModel, type Predictor } from './model/trained-model.js';
import { expectedCalibrationError, metrics } from './train/metrics.js';
import { fineTunePipeline } from './train/pipeline.js';
import { ActivationStore } from './train/strategies/tail-feed.js';

export interface EngineOptions extends BackboneLoadOptions, BackendOptions {
  /** A bundled backbone id or the URL/path of a manifest.json. @default 'mobilenet_v2_140' */
  backbone?: string;
  /** Skip backend selection and use tfjs' current backend (when the host already chose one). */
  useCurrentBackend?: boolean;
  /** In-memory embedding cache budget in bytes. @default 256 MiB */
  cacheBudgetBytes?: number;
  /** A persistent embedding store behind the memory cache (disk in the CLI, IndexedDB in the worker). */
  embeddingStore?: EmbeddingStore;
  /** Images per backbone forward pass. @default 16 */
  embedBatchSize?: number;
  /**
   * Who runs the frozen backbone: tfjs on the selected backend by default; in Node,
   * `onnxRuntimeForward()` from edgetune/node. Training the head and tail stays on tfjs.
   */
  forward?: ForwardFactory;
}

/** What the engine takes as an image: a source with a content hash (files, examples), or raw pixels. */
export type EngineImage = ImageSource | RawImage;

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
  try {
    const forward = opts.forward ? await opts.forward(backbone) : tfjsForward(backbone);
    return new Engine(backend, backbone, opts, forward);
  } catch (err) {
    backbone.dispose();
    throw err;
  }
}

const asSource = async (img: EngineImage, name: string): Promise<ImageSource> => ('load' in img ? img : pixelSource(img, name));

/** AddExamplesOptions.names: one short string per image, or absent. */
function checkNames(names: unknown, n: number): string[] | undefined {
  if (names === undefined) return undefined;
  if (!Array.isArray(names) || names.length !== n || names.some((x) => typeof x !== 'string' || x.length > 1000)) {
    throw new EdgetuneError('INVALID_ARGUMENT', `addExamples: names must be ${n} strings (one per image, up to 1000 characters each)`);
  }
  return names as string[];
}
const nameOf = (img: EngineImage, i: number) => ('name' in img ? img.name : `image ${i}`);

export class Engine implements ClassifierApi<EngineImage> {
  private examples: Example[] = [];
  /** Example ids are never reused, so a stale inspect() report cannot remove the wrong image. */
  private nextId = 0;
  /** Bumped on every change to the examples: keys the instant-feedback prototypes. */
  private examplesVersion = 0;
  private model: TrainedModel | null = null;
  private prototypes: PrototypeModel | null = null;
  private training = false;
  private disposed = false;
  readonly embedder: Embedder;
  /** The partial and full strategies' cached activations, kept across runs. */
  private readonly activations: ActivationStore;
  private readonly batchSize: number;

  /** Use createEngine(). */
  constructor(
    readonly backend: BackendInfo,
    readonly backbone: Backbone,
    opts: EngineOptions = {},
    forward: BackboneForward = tfjsForward(backbone),
  ) {
    this.batchSize = opts.embedBatchSize ?? 16;
    this.embedder = new Embedder(backbone, forward, new EmbeddingCache(opts.cacheBudgetBytes, opts.embeddingStore), opts.embeddingStore, this.batchSize);
    this.activations = new ActivationStore(opts.embeddingStore);
  }

  /** Labels of the trained (or loaded) model, in output order; empty before training. */
  get labels(): string[] {
    return [...(this.model?.labels ?? [])];
  }

  get isTrained(): boolean {
    return this.model !== null;
  }

  /** The embedding cache (memory, in front of the persistent store). */
  get cache(): EmbeddingCache {
    return this.embedder.cache;
  }

  private alive(): void {
    if (this.disposed) throw new EdgetuneError('DISPOSED', 'This classifier was disposed; create a new one');
  }

  async addExamples(label: string, images: EngineImage[], opts: AddExamplesOptions = {}): Promise<ExampleCounts> {
    this.alive();
    const name = checkLabel(label);
    if (!Array.isArray(images) || images.length === 0) {
      throw new EdgetuneError('INVALID_ARGUMENT', `addExamples('${name}') needs at least one image`);
    }
    const names = checkNames(opts.names, images.length);
    const sources = await Promise.all(images.map((img, i) => asSource(img, `${name} image ${i}`)));
    this.alive();
    sources.forEach((source, i) => {
      const named = names ? { hash: source.hash, name: names[i]!, load: () => source.load() } : source;
      this.examples.push({ label: name, source: named, id: this.nextId++, ...(opts.split ? { split: opts.split } : {}) });
    });
    this.examplesVersion++;
    return this.counts();
  }

  async removeClass(label: string): Promise<number> {
    this.alive();
    const before = this.examples.length;
    this.examples = this.examples.filter((e) => e.label !== label);
    this.examplesVersion++;
    return before - this.examples.length;
  }

  /** Removes the examples with these ids (InspectItem.id); all or none. */
  async removeExamples(ids: number[]): Promise<number> {
    this.alive();
    const gone = this.knownIds(ids, 'removeExamples');
    this.examples = this.examples.filter((e) => !gone.has(e.id!));
    this.examplesVersion++;
    return gone.size;
  }

  /** Gives the examples with these ids another label; all or none. */
  async relabelExamples(ids: number[], label: string): Promise<number> {
    this.alive();
    const name = checkLabel(label);
    const moved = this.knownIds(ids, 'relabelExamples');
    this.examples = this.examples.map((e) => (moved.has(e.id!) ? { ...e, label: name } : e));
    this.examplesVersion++;
    return moved.size;
  }

  private knownIds(ids: number[], what: string): Set<number> {
    if (!Array.isArray(ids) || ids.some((id) => !Number.isInteger(id))) throw new EdgetuneError('INVALID_ARGUMENT', `${what}() takes an array of example ids (InspectItem.id)`);
    const held = new Set(this.examples.map((e) => e.id));
    const unknown = ids.filter((id) => !held.has(id));
    if (unknown.length) throw new EdgetuneError('INVALID_ARGUMENT', `${what}(): no example with id ${unknown.slice(0, 5).join(', ')} (removed already, or from another classifier); nothing changed`);
    return new Set(ids);
  }

  /** The examples as added: for moving them to a new engine (after a backend change). */
  get exampleList(): readonly Example[] {
    return [...this.examples];
  }

  /** Adds examples taken from another engine's `exampleList`. */
  adoptExamples(list: readonly Example[]): void {
    this.alive();
    this.examples.push(...list);
    this.nextId = Math.max(this.nextId, ...list.map((e) => (e.id ?? -1) + 1));
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
   * Trains a new model on the current examples. The previous model stays in use
   * until training succeeds; abort or failure leave it unchanged.
   *
   * @throws EdgetuneError NO_EXAMPLES, TOO_FEW_CLASSES, BUSY, ABORTED, INVALID_ARGUMENT, INVALID_IMAGE
   */
  async fineTune(opts: FineTuneOptions = {}): Promise<TrainingReport> {
    this.alive();
    if (this.training) throw new EdgetuneError('BUSY', 'fineTune is already running; await it or abort it first');
    this.training = true;
    try {
      const { model, report } = await fineTunePipeline({ examples: [...this.examples], embedder: this.embedder, activations: this.activations, previous: this.model }, opts);
      this.swap(model);
      return report;
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

  /** Puts `next` in use; the previous model is freed once the calls using it finish. */
  private swap(next: TrainedModel): void {
    if (this.disposed) {
      next.retire();
      throw new EdgetuneError('DISPOSED', 'This classifier was disposed; create a new one');
    }
    this.model?.retire();
    this.model = next;
  }

  /** The trained model, or before training the examples' class prototypes. */
  private async predictor(): Promise<Predictor> {
    this.alive();
    if (this.model) return this.model;
    if (this.prototypes?.version !== this.examplesVersion) {
      const next = await this.fitPrototypes();
      this.prototypes?.retire();
      this.prototypes = next;
    }
    return this.prototypes!;
  }

  /** Instant feedback before training: prototypes of the current examples' plain views (cached embeddings). */
  private async fitPrototypes(): Promise<PrototypeModel> {
    const examples = [...this.examples];
    const version = this.examplesVersion;
    const labels = [...new Set(examples.map((e) => e.label))];
    if (!labels.length) throw new EdgetuneError('NOT_TRAINED', 'No model and no examples yet: add examples or load a model first');
    const y = Int32Array.from(examples, (e) => labels.indexOf(e.label));
    const emb = await this.embedder.embedAll(
      examples.map((e) => e.source),
      examples.map(() => [0]),
    );
    const all = examples.map((_, i) => i).filter((i) => !emb.invalid.has(i));
    const openSet = await OpenSet.fit(labels.length, y, all, [], async (rows) => emb.x.gather(rows), emb.views);
    return new PrototypeModel(labels, openSet, version);
  }

  /**
   * Top-k predictions for one image, most probable first. Before any training,
   * answers come from class prototypes (`basis: 'prototypes'`).
   * @example
   *   await engine.predict(img, { topK: 2 }) // [{ label: 'cat', probability: 0.93 }, { label: 'dog', probability: 0.05 }]
   */
  async predict(image: EngineImage, opts: PredictOptions = {}): Promise<Prediction[]> {
    return (await this.predictBatch([image], opts))[0]!;
  }

  async predictBatch(images: EngineImage[], opts: PredictOptions = {}): Promise<Prediction[][]> {
    this.alive();
    if (opts.topK !== undefined && (!Number.isInteger(opts.topK) || opts.topK < 1)) {
      throw new EdgetuneError('INVALID_ARGUMENT', `topK must be a positive integer, got ${opts.topK}`);
    }
    if (!Array.isArray(images) || images.length === 0) throw new EdgetuneError('INVALID_ARGUMENT', 'predict needs at least one image');
    const model = await this.predictor();
    return model.use(async (m) => {
      const s = await score(m, this.embedder, images, this.batchSize);
      return images.map((_, i) => rank(s, i, opts));
    });
  }

  async evaluate(samples: { label: string; image: EngineImage }[], opts: EvaluateOptions = {}): Promise<EvaluationReport> {
    this.alive();
    const model = this.model;
    if (!model) throw new EdgetuneError('NOT_TRAINED', 'No model yet: call fineTune() or load a model first');
    if (!Array.isArray(samples) || !samples.length) throw new EdgetuneError('INVALID_ARGUMENT', 'evaluate needs at least one labelled image');
    return model.use(async (m) => {
      const index = new Map(m.labels.map((l, i) => [l, i]));
      const unknown = [...new Set(samples.map((s) => s.label).filter((l) => !index.has(l)))];
      if (unknown.length) {
        throw new EdgetuneError('INVALID_LABEL', `Labels not in the model: ${unknown.join(', ')} (model labels: ${m.labels.join(', ')})`);
      }
      const s = await score(m, this.embedder, samples.map((x) => x.image), this.batchSize, opts.skipInvalid ?? false);
      const used = samples.map((_, i) => i).filter((i) => !s.invalid.has(i));
      if (!used.length) throw new EdgetuneError('INVALID_IMAGE', `None of the ${samples.length} images could be read (${[...s.invalid.values()][0]})`);
      const k = m.labels.length;
      const truth = used.map((i) => index.get(samples[i]!.label)!);
      const predicted = used.map((i) => top1(s, i));
      const confidence = predicted.map((c, j) => s.probs[used[j]! * k + c]!);
      const skipped = [...s.invalid].map(([i, reason]) => ({ name: nameOf(samples[i]!.image, i), reason }));
      return {
        ...metrics([...m.labels], truth, predicted),
        ece: expectedCalibrationError(confidence, predicted.map((c, j) => c === truth[j])),
        ...(skipped.length ? { skipped } : {}),
      };
    });
  }

  async inspect(opts: InspectOptions<EngineImage> = {}): Promise<InspectReport> {
    this.alive();
    const pool = await Promise.all((opts.pool ?? []).map((img, i) => asSource(img, `pool image ${i}`)));
    const entries = this.examples.map((e) => ({ label: e.label, source: e.source, split: e.split ?? ('train' as const), ...(e.id !== undefined ? { id: e.id } : {}) }));
    return this.inspectSources(entries, pool, opts);
  }

  /** inspect() over any labelled sources (the CLI adds a test split the engine does not hold). */
  async inspectSources(entries: InspectSource[], pool: ImageSource[], opts: Omit<InspectOptions, 'pool'> = {}): Promise<InspectReport> {
    this.alive();
    if (this.training) throw new EdgetuneError('BUSY', 'Cannot inspect while fineTune runs');
    return inspectSources(this.embedder, entries, pool, opts);
  }

  async export(opts: ExportOptions = {}): Promise<ModelFiles> {
    this.alive();
    const model = this.model;
    if (!model) throw new EdgetuneError('NOT_TRAINED', 'No model yet: call fineTune() or load a model first');
    return model.use((m) => exportFiles(this.backbone, m, opts, this.examples));
  }

  async import(files: ModelFiles): Promise<ModelMetadata> {
    this.alive();
    if (this.training) throw new EdgetuneError('BUSY', 'Cannot load a model while fineTune runs');
    const { head, tail, openSet, meta } = await importModel(files, this.backbone);
    this.swap(new TrainedModel(head, tail, meta.labels, openSet, meta.training, meta.evaluation));
    return meta;
  }

  async clearCache(): Promise<void> {
    this.alive();
    this.activations.clear();
    await this.embedder.clear();
  }

  async stats(): Promise<ClassifierStats> {
    const m = tf.memory();
    return { backend: this.backend, numTensors: m.numTensors, numBytes: m.numBytes, cache: this.cache.stats() };
  }

  /** Frees the model, the backbone and the caches. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.model?.retire();
    this.prototypes?.retire();
    this.model = null;
    this.prototypes = null;
    this.activations.clear();
    this.embedder.forward.dispose();
    this.backbone.dispose();
    this.examples = [];
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
