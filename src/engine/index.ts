// edgetune/engine: the engine for Node and in-thread use (no DOM, no worker).
// The public surface only: what the README documents and the types its options need.
export { createEngine, Engine, type EngineImage, type EngineOptions } from './engine.js';
export { selectBackend, type BackendOptions, type WasmThreadsHost } from './backend.js';
export { pixelSource, type ImageSource } from './data/examples.js';
export { BUNDLED_BACKBONES, DEFAULT_BACKBONE } from './model/manifest.js';
export type { EmbeddingStore, CacheStats } from './data/embed-cache.js';
export type { FetchPolicy, FileFetcher } from './model/fetch.js';
export type { BackboneForward, ForwardFactory } from './model/forward.js';
export { EdgetuneError, isEdgetuneError, type EdgetuneErrorCode } from '../errors.js';
export { UNKNOWN_LABEL } from '../constants.js';
export type * from '../types.js';
