// The worker entry: the one module with side effects (Comlink.expose). The
// engine, tfjs and the chosen backend live here, never on the main thread.
import { expose } from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import { EdgetuneError } from '../errors.js';
import { installErrorTransfer } from '../error-transfer.js';
import { createEngine, type Engine, type EngineOptions } from '../engine/engine.js';
import type { ModelFiles } from '../types.js';
import { pixelSource } from '../engine/data/examples.js';
import type { WorkerApi, WorkerImage } from './api.js';
import { IdbEmbeddingStore } from './embed-store-idb.js';
import { decodeWorkerImage } from './images.js';
import { isIndexedDbUrl, loadFromIndexedDb, loadFromUrl, saveToIndexedDb } from './persist.js';

installErrorTransfer();

let engine: Engine | null = null;
let engineOptions: EngineOptions = {};
let allowedOrigins: string[] = [];
let controller: AbortController | null = null;
/** On WebGPU: the last trained or loaded model, in CPU memory, to survive a lost device. */
let lastGood: ModelFiles | null = null;
let recovering: Promise<void> | null = null;

/** The engine, once any backend recovery in progress has finished. */
async function current(): Promise<Engine> {
  if (recovering) await recovering;
  if (!engine) throw new EdgetuneError('DISPOSED', 'The classifier is not initialized or was disposed');
  return engine;
}

/** Keeps a CPU-side copy of the model while on WebGPU, whose device can be lost. */
async function remember(e: Engine, files?: ModelFiles): Promise<void> {
  if (e.backend.name === 'webgpu') lastGood = files ?? (await e.export());
}

/**
 * A WebGPU device can be lost after start (driver reset, GPU process crash,
 * tab in the background on mobile). Rebuild the engine on the next backend in
 * the preference order, with the same examples and the last good model.
 */
function watchDeviceLoss(e: Engine): void {
  if (e.backend.name !== 'webgpu') return;
  const device = (tf.backend() as unknown as { device?: { lost?: Promise<{ message?: string; reason?: string }> } }).device;
  void device?.lost?.then((info) => {
    if (engine !== e) return;
    const reason = info?.message || info?.reason || 'unknown reason';
    recovering = (async () => {
      controller?.abort();
      engine = null;
      const examples = e.exampleList;
      try {
        e.dispose();
      } catch {
        // Freeing tensors on a lost device may fail; the device is gone either way.
      }
      tf.removeBackend('webgpu');
      const rest = (engineOptions.backends ?? ['webgpu', 'wasm', 'cpu']).filter((b) => b !== 'webgpu');
      const next = await createEngine({ ...engineOptions, backends: rest.length ? rest : ['wasm', 'cpu'] });
      next.backend.reasons.webgpu = `the WebGPU device was lost after start (${reason}); moved to ${next.backend.name}`;
      next.adoptExamples(examples);
      if (lastGood) await next.import(lastGood);
      lastGood = null;
      engine = next;
    })().finally(() => (recovering = null));
  });
}

async function sources(images: WorkerImage[], what: string) {
  if (!Array.isArray(images) || images.length === 0) throw new EdgetuneError('INVALID_ARGUMENT', `${what} needs at least one image`);
  return Promise.all(images.map(async (img, i) => pixelSource(await decodeWorkerImage(img, `${what} image ${i}`), `${what} image ${i}`)));
}

const api: WorkerApi = {
  async init(opts) {
    if (engine) throw new EdgetuneError('INVALID_ARGUMENT', 'init was already called');
    allowedOrigins = opts.allowedOrigins ?? [];
    engineOptions = {
      ...(opts.backbone ? { backbone: opts.backbone } : {}),
      ...(opts.backends ? { backends: opts.backends } : {}),
      ...(opts.modelBaseUrl ? { modelBaseUrl: new URL(opts.modelBaseUrl, self.location.href) } : {}),
      ...(opts.wasmPaths ? { wasmPaths: opts.wasmPaths } : {}),
      ...(opts.allowedOrigins ? { allowedOrigins: opts.allowedOrigins } : {}),
      // Embeddings persist in IndexedDB: a reload retrains without backbone passes.
      ...(opts.persistentCacheBytes !== 0 && typeof indexedDB !== 'undefined'
        ? { embeddingStore: new IdbEmbeddingStore(opts.persistentCacheBytes ?? undefined) }
        : {}),
    };
    engine = await createEngine(engineOptions);
    watchDeviceLoss(engine);
    const m = engine.backbone.manifest;
    return { backend: engine.backend, backbone: { id: m.id, inputSize: m.inputSize, embeddingSize: m.embeddingSize } };
  },
  async addExamples(label, images, split) {
    const e = await current();
    return e.addExamples(label, await sources(images, `addExamples('${label}')`), split ? { split } : {});
  },
  async removeClass(label) {
    return (await current()).removeClass(label);
  },
  async fineTune(opts, onProgress) {
    const e = await current();
    controller = new AbortController();
    try {
      const report = await e.fineTune({ ...opts, signal: controller.signal, ...(onProgress ? { onProgress: (p) => void onProgress(p) } : {}) });
      await remember(e);
      return report;
    } finally {
      controller = null;
    }
  },
  abort() {
    controller?.abort();
  },
  async predict(images, opts) {
    const e = await current();
    if (!Array.isArray(images) || images.length === 0) throw new EdgetuneError('INVALID_ARGUMENT', 'predict needs at least one image');
    // Raw pixels, not hashed sources: camera frames are one-off and must not fill the persistent cache.
    return e.predict(await Promise.all(images.map((img, i) => decodeWorkerImage(img, `predict image ${i}`))), opts ?? {});
  },
  async evaluate(samples) {
    const e = await current();
    const decoded = await sources(samples.map((s) => s.image), 'evaluate');
    return e.evaluate(samples.map((s, i) => ({ label: s.label, image: decoded[i]! })));
  },
  async exportModel(merged) {
    return (await current()).export({ merged: merged ?? false });
  },
  async importModel(files) {
    const e = await current();
    const meta = await e.import(files);
    await remember(e, files);
    return { labels: meta.labels };
  },
  async save(url) {
    const e = await current();
    if (!isIndexedDbUrl(url)) throw new EdgetuneError('INVALID_ARGUMENT', `save() takes indexeddb://<name>, got '${url}'; use export() for files`);
    await saveToIndexedDb(url, await e.export());
  },
  async load(url) {
    const e = await current();
    const files = isIndexedDbUrl(url) ? await loadFromIndexedDb(url) : await loadFromUrl(url, allowedOrigins);
    const meta = await e.import(files);
    await remember(e, files);
    return { labels: meta.labels };
  },
  async labels() {
    return (await current()).labels;
  },
  async clearCache() {
    await (await current()).clearCache();
  },
  async stats() {
    const e = await current();
    const m = tf.memory();
    return { backend: e.backend, numTensors: m.numTensors, numBytes: m.numBytes, cache: e.cache.stats() };
  },
  loseDeviceForTesting() {
    (tf.backend() as unknown as { device?: { destroy(): void } }).device?.destroy();
  },
  crashForTesting() {
    setTimeout(() => {
      throw new Error('simulated worker crash');
    });
  },
  async dispose() {
    controller?.abort();
    engine?.dispose();
    engine = null;
  },
};

expose(api);
