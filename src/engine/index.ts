// edgetune/engine: the engine for Node and in-thread use (no DOM, no worker).
export { createEngine, Engine, type EngineImage, type EngineOptions } from './engine.js';
export { resolveTrainConfig, TRAIN_DEFAULTS } from './config.js';
export { selectBackend, defaultBackendOrder, type BackendOptions } from './backend.js';
export { loadBackbone, resolveManifestUrl, packageModelBaseUrl, type Backbone, type BackboneLoadOptions } from './model/backbone.js';
export { parseManifest, BUNDLED_BACKBONES, DEFAULT_BACKBONE, MANIFEST_VERSION, type BackboneManifest } from './model/manifest.js';
export { pixelSource, checkLabel, type ImageSource, type Example } from './data/examples.js';
export { EmbeddingCache, embeddingKey, type EmbeddingStore, type CacheStats } from './data/embed-cache.js';
export { exportModel, importModel, FORMAT_VERSION, type ModelMetadata } from './model/artifacts.js';
export { metrics } from './train/metrics.js';
export { augmentBox, PREPROCESS_VERSION } from './data/preprocess.js';
export type { FetchPolicy, FileFetcher } from './model/fetch.js';
export { EdgetuneError, isEdgetuneError, type EdgetuneErrorCode } from '../errors.js';
export { UNKNOWN_LABEL } from '../constants.js';
export { expectedCalibrationError } from './train/metrics.js';
export { Tail } from './model/tail.js';
export { planTail, type TailPlan } from './model/tail-plan.js';
export type * from '../types.js';
