// The interface both sides of the worker compile against, derived from the one
// classifier API (types.ts): the same methods with the worker's image type,
// plus what only a worker needs. Everything crossing is structured-cloneable or
// transferable; progress comes back through Comlink.proxy.
import type { EngineOptions } from '../engine/engine.js';
import type { BackendInfo, ClassifierApi, FineTuneOptions, InspectOptions, InspectReport, ModelMetadata, TrainingReport } from '../types.js';

/** An image as it crosses to the worker: a transferred ImageBitmap, raw ImageData, or an encoded Blob. */
export type WorkerImage = ImageBitmap | ImageData | Blob;

/** The engine options a page may set: the rest (fetcher, forward, stores, hosts) are functions or objects that cannot cross postMessage. */
export type PageEngineOptions = Pick<EngineOptions, 'backbone' | 'backends' | 'wasmThreads' | 'allowedOrigins' | 'cacheBudgetBytes' | 'embedBatchSize'>;

/**
 * The options of createClassifier that the worker uses: the engine's own options
 * (derived, never restated), with URLs as strings so that they cross postMessage.
 */
export interface WorkerInit extends PageEngineOptions {
  /** Folder holding <id>/manifest.json for bundled backbones. @default the package's models/, as the app's bundler emitted them */
  modelBaseUrl?: string;
  /** Folder of the tfjs .wasm files, or a map from file name to URL. @default the package's dist/wasm/, as the app's bundler emitted them */
  wasmPaths?: EngineOptions['wasmPaths'];
  /**
   * Budget of the persistent embedding cache in IndexedDB (fp16, least recently
   * used evicted first); 0 keeps embeddings in memory only. @default 512 MiB
   */
  persistentCacheBytes?: number;
}

export interface WorkerInfo {
  backend: BackendInfo;
  backbone: { id: string; inputSize: [number, number]; embeddingSize: number };
}

export type WorkerApi = Omit<ClassifierApi<WorkerImage>, 'backend' | 'fineTune' | 'inspect'> & {
  init(opts: WorkerInit): Promise<WorkerInfo>;
  /** AbortSignal and callbacks do not cross postMessage: progress is a Comlink proxy, cancelling is abort(). */
  fineTune(opts?: Omit<FineTuneOptions, 'signal' | 'onProgress'>, onProgress?: FineTuneOptions['onProgress']): Promise<TrainingReport>;
  inspect(opts?: Omit<InspectOptions<WorkerImage>, 'signal' | 'onProgress'>, onProgress?: InspectOptions['onProgress']): Promise<InspectReport>;
  /** Aborts the running fineTune or inspect. */
  abort(): void;
  /** Saves the current model to indexeddb://<name>, atomically. */
  save(url: string): Promise<void>;
  /** Loads indexeddb://<name> or an exported folder's URL. */
  load(url: string): Promise<ModelMetadata>;
};
