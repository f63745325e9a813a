// edgetune/engine: the engine for Node and in-thread use (no DOM, no worker).
export { createEngine, Engine, resolveTrainConfig, TRAIN_DEFAULTS, type EngineOptions, type ExampleCounts } from './classifier.js';
export { selectBackend, defaultBackendOrder, type BackendOptions } from './backend.js';
export { loadBackbone, resolveManifestUrl, packageModelBaseUrl, type Backbone, type BackboneLoadOptions } from './backbone.js';
export { parseManifest, BUNDLED_BACKBONES, DEFAULT_BACKBONE, MANIFEST_VERSION, type BackboneManifest } from './manifest.js';
export { pixelSource, checkLabel, type ImageSource, type Example } from './examples.js';
export { EmbeddingCache, embeddingKey, type EmbeddingStore, type CacheStats } from './embed-cache.js';
export { exportModel, importModel, FORMAT_VERSION, type ModelMetadata } from './artifacts.js';
export { metrics } from './evaluate.js';
export { augmentBox, PREPROCESS_VERSION } from './preprocess.js';
export type { FetchPolicy, FileFetcher } from './fetch.js';
export { EdgetuneError, isEdgetuneError, type EdgetuneErrorCode } from '../errors.js';
export { UNKNOWN_LABEL } from '../constants.js';
export { expectedCalibrationError } from './evaluate.js';
export { Tail, planTail, type TailPlan } from './tail.js';
export type * from '../types.js';
