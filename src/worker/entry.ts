// The worker entry: the one module with side effects (Comlink.expose). The
// engine, tfjs and the chosen backend live here, never on the main thread.
import { expose } from 'comlink';
import * as tf from '@tensorflow/tfjs-core';
import { EdgetuneError } from '../errors.js';
import { installErrorTransfer } from '../error-transfer.js';
import { createEngine, type Engine } from '../engine/classifier.js';
import { pixelSource } from '../engine/examples.js';
import type { WorkerApi, WorkerImage } from './api.js';
import { IdbEmbeddingStore } from './embed-store-idb.js';
import { decodeWorkerImage } from './images.js';
import { isIndexedDbUrl, loadFromIndexedDb, loadFromUrl, saveToIndexedDb } from './persist.js';

installErrorTransfer();

let engine: Engine | null = null;
let allowedOrigins: string[] = [];
let controller: AbortController | null = null;

function current(): Engine {
  if (!engine) throw new EdgetuneError('DISPOSED', 'The classifier is not initialized or was disposed');
  return engine;
}

async function sources(images: WorkerImage[], what: string) {
  if (!Array.isArray(images) || images.length === 0) throw new EdgetuneError('INVALID_ARGUMENT', `${what} needs at least one image`);
  return Promise.all(images.map(async (img, i) => pixelSource(await decodeWorkerImage(img, `${what} image ${i}`), `${what} image ${i}`)));
}

const api: WorkerApi = {
  async init(opts) {
    if (engine) throw new EdgetuneError('INVALID_ARGUMENT', 'init was already called');
    allowedOrigins = opts.allowedOrigins ?? [];
    engine = await createEngine({
      ...(opts.backbone ? { backbone: opts.backbone } : {}),
      ...(opts.backends ? { backends: opts.backends } : {}),
      ...(opts.modelBaseUrl ? { modelBaseUrl: new URL(opts.modelBaseUrl, self.location.href) } : {}),
      ...(opts.wasmPaths ? { wasmPaths: opts.wasmPaths } : {}),
      ...(opts.allowedOrigins ? { allowedOrigins: opts.allowedOrigins } : {}),
      // Embeddings persist in IndexedDB: a reload retrains without backbone passes.
      ...(opts.persistentCacheBytes !== 0 && typeof indexedDB !== 'undefined'
        ? { embeddingStore: new IdbEmbeddingStore(opts.persistentCacheBytes ?? undefined) }
        : {}),
    });
    const m = engine.backbone.manifest;
    return { backend: engine.backend, backbone: { id: m.id, inputSize: m.inputSize, embeddingSize: m.embeddingSize } };
  },
  async addExamples(label, images, split) {
    const e = current();
    return e.addExamples(label, await sources(images, `addExamples('${label}')`), split ? { split } : {});
  },
  async removeClass(label) {
    return current().removeClass(label);
  },
  async fineTune(opts, onProgress) {
    const e = current();
    controller = new AbortController();
    try {
      return await e.fineTune({ ...opts, signal: controller.signal, ...(onProgress ? { onProgress: (p) => void onProgress(p) } : {}) });
    } finally {
      controller = null;
    }
  },
  abort() {
    controller?.abort();
  },
  async predict(images, opts) {
    const e = current();
    return e.predict(await sources(images, 'predict'), opts ?? {});
  },
  async evaluate(samples) {
    const e = current();
    const decoded = await sources(samples.map((s) => s.image), 'evaluate');
    return e.evaluate(samples.map((s, i) => ({ label: s.label, image: decoded[i]! })));
  },
  async exportModel(merged) {
    return current().export({ merged: merged ?? false });
  },
  async importModel(files) {
    const meta = await current().import(files);
    return { labels: meta.labels };
  },
  async save(url) {
    const e = current();
    if (!isIndexedDbUrl(url)) throw new EdgetuneError('INVALID_ARGUMENT', `save() takes indexeddb://<name>, got '${url}'; use export() for files`);
    await saveToIndexedDb(url, await e.export());
  },
  async load(url) {
    const e = current();
    const files = isIndexedDbUrl(url) ? await loadFromIndexedDb(url) : await loadFromUrl(url, allowedOrigins);
    const meta = await e.import(files);
    return { labels: meta.labels };
  },
  async labels() {
    return current().labels;
  },
  async clearCache() {
    await current().clearCache();
  },
  async stats() {
    const e = current();
    const m = tf.memory();
    return { backend: e.backend.name, numTensors: m.numTensors, numBytes: m.numBytes, cache: e.cache.stats() };
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
