// The interface both sides of the worker compile against. Everything crossing
// it is structured-cloneable or transferable; progress comes back via Comlink.proxy.
import type {
  BackendInfo,
  BackendName,
  EvaluationReport,
  FineTuneOptions,
  ModelFiles,
  Prediction,
  PredictOptions,
  TrainingReport,
} from '../types.js';

/** An image as it crosses to the worker: a transferred ImageBitmap, raw ImageData, or an encoded Blob. */
export type WorkerImage = ImageBitmap | ImageData | Blob;

export interface WorkerInit {
  backbone?: string;
  backends?: BackendName[];
  modelBaseUrl?: string;
  wasmPaths?: string;
  allowedOrigins?: string[];
  /** Persistent embedding cache budget in IndexedDB (bytes); 0 = memory only. */
  persistentCacheBytes?: number;
}

export interface WorkerInfo {
  backend: BackendInfo;
  backbone: { id: string; inputSize: [number, number]; embeddingSize: number };
}

export interface WorkerStats {
  /** The backend in use now: after a lost WebGPU device, the fallback, with the reason under `reasons.webgpu`. */
  backend: BackendInfo;
  numTensors: number;
  numBytes: number;
  cache: { entries: number; bytes: number; hits: number; misses: number };
}

export interface WorkerApi {
  init(opts: WorkerInit): Promise<WorkerInfo>;
  addExamples(label: string, images: WorkerImage[], split?: 'train' | 'val'): Promise<Record<string, { train: number; val: number }>>;
  removeClass(label: string): Promise<number>;
  fineTune(opts: Omit<FineTuneOptions, 'signal' | 'onProgress'>, onProgress?: FineTuneOptions['onProgress']): Promise<TrainingReport>;
  /** Aborts the running fineTune (AbortSignal does not cross postMessage). */
  abort(): void;
  predict(images: WorkerImage[], opts?: PredictOptions): Promise<Prediction[][]>;
  evaluate(samples: { label: string; image: WorkerImage }[]): Promise<EvaluationReport>;
  exportModel(merged?: boolean): Promise<ModelFiles>;
  importModel(files: ModelFiles): Promise<{ labels: string[] }>;
  /** Saves the current model to indexeddb://<name>. */
  save(url: string): Promise<void>;
  /** Loads indexeddb://<name> or an exported folder's URL. */
  load(url: string): Promise<{ labels: string[] }>;
  labels(): Promise<string[]>;
  /** Empties the embedding caches (memory and IndexedDB). */
  clearCache(): Promise<void>;
  stats(): Promise<WorkerStats>;
  /** Test hook: throws an uncaught error in the worker (what a crash looks like to the page). */
  crashForTesting(): void;
  /** Test hook: destroys the WebGPU device (what a lost device looks like). */
  loseDeviceForTesting(): void;
  dispose(): Promise<void>;
}
