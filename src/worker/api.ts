// The interface both sides of the worker compile against, derived from the one
// classifier API (types.ts): the same methods with the worker's image type,
// plus what only a worker needs. Everything crossing is structured-cloneable or
// transferable; progress comes back through Comlink.proxy.
import type { BackendInfo, BackendName, ClassifierApi, FineTuneOptions, ModelMetadata, TrainingReport } from '../types.js';

/** An image as it crosses to the worker: a transferred ImageBitmap, raw ImageData, or an encoded Blob. */
export type WorkerImage = ImageBitmap | ImageData | Blob;

/**
 * The options of createClassifier that the worker uses, passed through as they
 * are (the page only resolves default URLs).
 */
export interface WorkerInit {
  /** A bundled backbone id or the URL of a manifest.json. @default 'mobilenet_v2_140' */
  backbone?: string;
  /** Backend preference. @default ['webgpu', 'wasm', 'cpu'] */
  backends?: BackendName[];
  /** Folder holding <id>/manifest.json for bundled backbones. @default the package's models/ */
  modelBaseUrl?: string;
  /** Folder of the tfjs .wasm files. @default the package's dist/wasm/ */
  wasmPaths?: string;
  /** Other origins model files may load from. @default [] */
  allowedOrigins?: string[];
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

export type WorkerApi = Omit<ClassifierApi<WorkerImage>, 'backend' | 'fineTune'> & {
  init(opts: WorkerInit): Promise<WorkerInfo>;
  /** AbortSignal and callbacks do not cross postMessage: progress is a Comlink proxy, cancelling is abort(). */
  fineTune(opts?: Omit<FineTuneOptions, 'signal' | 'onProgress'>, onProgress?: FineTuneOptions['onProgress']): Promise<TrainingReport>;
  /** Aborts the running fineTune. */
  abort(): void;
  /** Saves the current model to indexeddb://<name>, atomically. */
  save(url: string): Promise<void>;
  /** Loads indexeddb://<name> or an exported folder's URL. */
  load(url: string): Promise<ModelMetadata>;
};
