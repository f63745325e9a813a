// The worker's side of the classifier: one engine, created by init(), behind
// the WorkerApi. Images arrive as Blobs, ImageBitmaps or ImageData and are
// decoded here; models save to and load from IndexedDB or URLs.
import { EdgetuneError } from '../errors.js';
import { createEngine, type Engine, type EngineOptions } from '../engine/engine.js';
import { pixelSource } from '../engine/data/examples.js';
import { defaultFetcher, type FileFetcher } from '../engine/model/fetch.js';
import type { AddExamplesOptions, ModelFiles } from '../types.js';
import type { WorkerApi, WorkerImage, WorkerInit } from './api.js';
import { IdbEmbeddingStore } from './embed-store-idb.js';
import { decodeWorkerImage } from './images.js';
import { isIndexedDbUrl, loadFromIndexedDb, loadFromUrl, saveToIndexedDb } from './persist.js';
import { deviceLost, recoverFrom } from './recovery.js';

/** The package's files as this worker's bundler emitted them: `files` maps paths inside the package (relative to `root`) to their URLs. */
export interface PackageFiles {
  root: URL;
  files: Record<string, URL>;
}

/**
 * Reads package files through their emitted URLs: the backbone loader resolves
 * model.json and shards relative to the manifest, at the package's nominal place,
 * and this maps each such URL to where the app's bundler put the file (a hashed
 * name or a data: URL). Other URLs are fetched as they are.
 */
function packageFetcher({ root, files }: PackageFiles): FileFetcher {
  const byHref = new Map(Object.entries(files).map(([path, url]) => [new URL(path, root).href, url]));
  return (url, maxBytes) => defaultFetcher(byHref.get(url.href) ?? url, maxBytes);
}

/** tfjs-backend-wasm's binaries (it picks one by the browser's SIMD and thread support). */
const WASM_BINARIES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

/** WorkerInit -> EngineOptions: the same fields, defaults from the package's emitted files, the persistent cache made from its budget. */
function engineOptions(init: WorkerInit, pkg: PackageFiles): EngineOptions {
  const { persistentCacheBytes, modelBaseUrl, wasmPaths, ...rest } = init;
  // Each binary from where the bundler emitted it, else from its place in the package.
  const wasmFiles = Object.fromEntries(WASM_BINARIES.map((name) => [name, (pkg.files[`dist/wasm/${name}`] ?? new URL(`dist/wasm/${name}`, pkg.root)).href]));
  return {
    ...rest,
    ...(modelBaseUrl ? { modelBaseUrl: new URL(modelBaseUrl, self.location.href) } : { modelBaseUrl: new URL('models/', pkg.root), fetcher: packageFetcher(pkg) }),
    wasmPaths: wasmPaths ?? wasmFiles,
    // Embeddings persist in IndexedDB: a reload retrains without backbone passes.
    ...(persistentCacheBytes !== 0 && typeof indexedDB !== 'undefined' ? { embeddingStore: new IdbEmbeddingStore(persistentCacheBytes ?? undefined) } : {}),
  };
}

/** Decodes page images to raw pixels for the engine (INVALID_ARGUMENT for an empty list). */
async function decodeAll(images: WorkerImage[], what: string) {
  if (!Array.isArray(images) || images.length === 0) throw new EdgetuneError('INVALID_ARGUMENT', `${what} needs at least one image`);
  return Promise.all(images.map((img, i) => decodeWorkerImage(img, `${what} image ${i}`)));
}

export class WorkerService implements WorkerApi {
  /** `pkg`: the package's files as the worker entry resolved them. */
  constructor(private readonly pkg: PackageFiles) {}

  private engine: Engine | null = null;
  private options: EngineOptions = {};
  private allowedOrigins: string[] = [];
  private controller: AbortController | null = null;
  /** On WebGPU: the last trained or loaded model, in CPU memory, to survive a lost device. */
  private lastGood: ModelFiles | null = null;
  private recovering: Promise<void> | null = null;

  async init(init: WorkerInit) {
    if (this.engine) throw new EdgetuneError('INVALID_ARGUMENT', 'init was already called');
    this.allowedOrigins = init.allowedOrigins ?? [];
    this.options = engineOptions(init, this.pkg);
    this.adopt(await createEngine(this.options));
    const m = this.engine!.backbone.manifest;
    return { backend: this.engine!.backend, backbone: { id: m.id, inputSize: m.inputSize, embeddingSize: m.embeddingSize } };
  }

  /** The engine, once any backend recovery in progress has finished. */
  private async current(): Promise<Engine> {
    if (this.recovering) await this.recovering;
    if (!this.engine) throw new EdgetuneError('DISPOSED', 'The classifier is not initialized or was disposed');
    return this.engine;
  }

  /** Puts `engine` in use and moves to the next backend if its WebGPU device is lost. */
  private adopt(engine: Engine): void {
    this.engine = engine;
    void deviceLost(engine).then((reason) => {
      if (this.engine !== engine) return;
      this.controller?.abort();
      this.engine = null;
      this.recovering = recoverFrom(engine, reason, this.options, this.lastGood)
        .then((next) => {
          this.lastGood = null;
          this.adopt(next);
        })
        .finally(() => (this.recovering = null));
    });
  }

  /** Keeps a CPU-side copy of the model while on WebGPU, whose device can be lost. */
  private async remember(e: Engine, files?: ModelFiles): Promise<void> {
    if (e.backend.name === 'webgpu') this.lastGood = files ?? (await e.export());
  }

  async addExamples(label: string, images: WorkerImage[], opts?: AddExamplesOptions) {
    const e = await this.current();
    const decoded = await decodeAll(images, `addExamples('${label}')`);
    // Files keep their file names in inspect() and evaluate() reports, unless names are given.
    const names = opts?.names ?? images.map((img, i) => (typeof File !== 'undefined' && img instanceof File ? img.name : `${label} image ${i}`));
    return e.addExamples(label, await Promise.all(decoded.map((img, i) => pixelSource(img, names[i] ?? `${label} image ${i}`))), opts ?? {});
  }

  async removeClass(label: string) {
    return (await this.current()).removeClass(label);
  }

  async removeExamples(ids: number[]) {
    return (await this.current()).removeExamples(ids);
  }

  async relabelExamples(ids: number[], label: string) {
    return (await this.current()).relabelExamples(ids, label);
  }

  async fineTune(opts: Parameters<WorkerApi['fineTune']>[0] = {}, onProgress?: Parameters<WorkerApi['fineTune']>[1]) {
    const e = await this.current();
    this.controller = new AbortController();
    try {
      const report = await e.fineTune({ ...opts, signal: this.controller.signal, ...(onProgress ? { onProgress: (p) => void onProgress(p) } : {}) });
      await this.remember(e);
      return report;
    } finally {
      this.controller = null;
    }
  }

  abort(): void {
    this.controller?.abort();
  }

  async inspect(opts: Parameters<WorkerApi['inspect']>[0] = {}, onProgress?: Parameters<WorkerApi['inspect']>[1]) {
    const e = await this.current();
    const { pool, ...rest } = opts;
    const decoded = pool?.length ? await decodeAll(pool, 'inspect') : [];
    const sources = await Promise.all(decoded.map((img, i) => pixelSource(img, `pool image ${i}`)));
    this.controller = new AbortController();
    try {
      return await e.inspect({ ...rest, pool: sources, signal: this.controller.signal, ...(onProgress ? { onProgress: (p) => void onProgress(p) } : {}) });
    } finally {
      this.controller = null;
    }
  }

  async predict(image: WorkerImage, opts?: Parameters<WorkerApi['predict']>[1]) {
    return (await this.predictBatch([image], opts))[0]!;
  }

  async predictBatch(images: WorkerImage[], opts?: Parameters<WorkerApi['predictBatch']>[1]) {
    const e = await this.current();
    // Raw pixels, not hashed sources: camera frames are one-off and must not fill the persistent cache.
    return e.predictBatch(await decodeAll(images, 'predict'), opts ?? {});
  }

  async evaluate(samples: { label: string; image: WorkerImage }[], opts?: Parameters<WorkerApi['evaluate']>[1]) {
    const e = await this.current();
    // Hashed sources: labelled sets are evaluated again, and their embeddings are cached.
    const decoded = await decodeAll(samples.map((s) => s.image), 'evaluate');
    const sources = await Promise.all(decoded.map((img, i) => pixelSource(img, `evaluate image ${i}`)));
    return e.evaluate(samples.map((s, i) => ({ label: s.label, image: sources[i]! })), opts ?? {});
  }

  async export(opts?: Parameters<WorkerApi['export']>[0]) {
    return (await this.current()).export(opts ?? {});
  }

  async import(files: ModelFiles) {
    const e = await this.current();
    const meta = await e.import(files);
    await this.remember(e, files);
    return meta;
  }

  async save(url: string) {
    const e = await this.current();
    if (!isIndexedDbUrl(url)) throw new EdgetuneError('INVALID_ARGUMENT', `save() takes indexeddb://<name>, got '${url}'; use export() for files`);
    await saveToIndexedDb(url, await e.export());
  }

  async load(url: string) {
    const files = isIndexedDbUrl(url) ? await loadFromIndexedDb(url) : await loadFromUrl(url, this.allowedOrigins);
    return this.import(files);
  }

  async clearCache() {
    await (await this.current()).clearCache();
  }

  async stats() {
    return (await this.current()).stats();
  }

  async dispose() {
    this.controller?.abort();
    await this.engine?.dispose();
    this.engine = null;
  }
}
