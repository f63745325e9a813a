// The main-thread API: spawns the worker, speaks to it through Comlink, turns
// DOM images into transferable ImageBitmaps. Never imports @tensorflow/*.
import { proxy, transfer, wrap, type Remote } from 'comlink';
import { EdgetuneError } from '../errors.js';
import { installErrorTransfer } from '../error-transfer.js';
import type { ClassifierApi, FineTuneOptions, InspectOptions, ModelFiles, ModelMetadata } from '../types.js';
import type { WorkerApi, WorkerImage, WorkerInit } from '../worker/api.js';

/** Anything a page has as an image. */
export type ImageInput =
  | HTMLImageElement
  | HTMLVideoElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | ImageBitmap
  | ImageData
  | Blob;

/** The worker's options, passed to it as they are, and where the worker script is. */
export interface ClassifierOptions extends Omit<WorkerInit, 'modelBaseUrl'> {
  /** URL of the worker script (edgetune/worker). @default the package's dist/worker.js, as the app's bundler emitted it */
  workerUrl?: string | URL;
  /** Folder holding <id>/manifest.json for bundled backbones. @default the package's models/, as the app's bundler emitted them */
  modelBaseUrl?: string | URL;
}

/**
 * The classifier API (ClassifierApi in types.ts) on page images, plus what a
 * page has: `import` also takes File objects from a picker, models save to
 * IndexedDB, and the worker can be restarted. Pixel inputs are transferred to
 * the worker as ImageBitmaps (an input ImageBitmap is detached by the call).
 */
export interface Classifier extends Omit<ClassifierApi<ImageInput>, 'import'> {
  /** Loads exported files (a ModelFiles map, or File objects from a picker); the current model stays on any error. */
  import(files: ModelFiles | File[]): Promise<ModelMetadata>;
  /** Saves the model to `indexeddb://<name>`, atomically (the previous version stays until the new one is whole). */
  save(url: string): Promise<void>;
  /** Loads `indexeddb://<name>` or the URL of an exported model folder. */
  load(url: string): Promise<ModelMetadata>;
  /**
   * Replaces the worker with a fresh one (after WORKER_CRASHED, or to free memory)
   * and reloads the last model saved or loaded through `save`/`load` (null when
   * there was none). Examples live in the worker and must be added again.
   */
  restart(): Promise<ModelMetadata | null>;
  [Symbol.asyncDispose](): Promise<void>;
}


/** Converts a page image to what crosses to the worker, plus what to transfer. */
async function toWorkerImage(img: ImageInput, what: string): Promise<[WorkerImage, Transferable[]]> {
  // Encoded files cross as they are: the worker decodes them, off the main thread.
  if (typeof Blob !== 'undefined' && img instanceof Blob) return [img, []];
  if (typeof HTMLVideoElement !== 'undefined' && img instanceof HTMLVideoElement && img.readyState < 2) {
    throw new EdgetuneError('INVALID_IMAGE', `${what}: the video has no frame yet (readyState ${img.readyState}); wait for 'loadeddata'`);
  }
  if (typeof ImageBitmap !== 'undefined' && img instanceof ImageBitmap && (img.width === 0 || img.height === 0)) {
    throw new EdgetuneError('INVALID_IMAGE', `${what}: the ImageBitmap is closed or empty`);
  }
  // Everything else, ImageData included, becomes an ImageBitmap that is transferred, not
  // copied: a structured clone of pixels runs on the main thread inside postMessage.
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(img as ImageBitmapSource);
  } catch (err) {
    throw new EdgetuneError('INVALID_IMAGE', `${what}: cannot read pixels (${(err as Error).message})`, { cause: err });
  }
  return [bitmap, [bitmap]];
}

/**
 * Main-thread time one slice of conversions may take before yielding. Converting
 * a decoded <img> costs milliseconds (Chromium decodes it again when its cache
 * dropped it), so a 100-image call is cut into tasks well under 50 ms.
 */
const SLICE_MS = 10;

/** Lets the page's other tasks (input, rendering) run between slices of conversion work. */
const yieldToPage = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

async function toWorkerImages(images: ImageInput[], what: string): Promise<[WorkerImage[], Transferable[]]> {
  if (!Array.isArray(images)) throw new EdgetuneError('INVALID_ARGUMENT', `${what}: images must be an array`);
  const out: WorkerImage[] = [];
  const transfers: Transferable[] = [];
  // Yield first: this may run inside the task that delivered the previous call's reply.
  let sliceStart = -Infinity;
  try {
    for (let i = 0; i < images.length; i++) {
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldToPage();
        sliceStart = performance.now();
      }
      const [converted, t] = await toWorkerImage(images[i]!, `${what} image ${i}`);
      out.push(converted);
      transfers.push(...t);
    }
  } catch (err) {
    // Bitmaps made so far are not going anywhere: free them now.
    for (const t of transfers) (t as ImageBitmap).close?.();
    throw err;
  }
  return [out, transfers];
}

/**
 * Creates a classifier in a dedicated worker: picks a backend (WebGPU, then
 * WASM, then CPU), loads and verifies the backbone, warms it up.
 *
 * @throws EdgetuneError BACKEND_UNAVAILABLE, UNKNOWN_BACKBONE, MODEL_LOAD_FAILED, MODEL_INTEGRITY, WORKER_CRASHED
 * @example
 *   const clf = await createClassifier();
 *   clf.backend.name // 'webgpu' | 'wasm' | 'cpu'
 */
export async function createClassifier(options: ClassifierOptions = {}): Promise<Classifier> {
  installErrorTransfer();
  let disposed = false;
  let session = await spawn(options);
  /** The last model saved or loaded through IndexedDB/URL: what restart() reloads. */
  let lastSaved: string | null = null;

  async function call<T>(fn: (remote: Remote<WorkerApi>) => Promise<T>): Promise<T> {
    if (disposed) throw new EdgetuneError('DISPOSED', 'This classifier was disposed; create a new one');
    const s = session;
    if (s.crash()) throw s.crash();
    return Promise.race([fn(s.remote), s.crashed]);
  }

  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    await session.close();
  };

  return {
    get backend() {
      return session.info.backend;
    },
    addExamples: (label, images, opts = {}) =>
      call(async (remote) => {
        const [imgs, t] = await toWorkerImages(images, `addExamples('${label}')`);
        return remote.addExamples(label, transfer(imgs, t), opts);
      }),
    removeClass: (label) => call((remote) => remote.removeClass(label)),
    removeExamples: (ids) => call((remote) => remote.removeExamples(ids)),
    relabelExamples: (ids, label) => call((remote) => remote.relabelExamples(ids, label)),
    fineTune: (opts = {}) => call((remote) => fineTuneIn(remote, opts)),
    predict: (image, opts = {}) =>
      call(async (remote) => {
        const [imgs, t] = await toWorkerImages([image], 'predict');
        return remote.predict(transfer(imgs[0]!, t), opts);
      }),
    predictBatch: (images, opts = {}) =>
      call(async (remote) => {
        const [imgs, t] = await toWorkerImages(images, 'predict');
        return remote.predictBatch(transfer(imgs, t), opts);
      }),
    evaluate: (samples, opts = {}) =>
      call(async (remote) => {
        if (!Array.isArray(samples)) throw new EdgetuneError('INVALID_ARGUMENT', 'evaluate: samples must be an array');
        const [imgs, t] = await toWorkerImages(samples.map((s) => s.image), 'evaluate');
        return remote.evaluate(transfer(samples.map((s, i) => ({ label: s.label, image: imgs[i]! })), t), opts);
      }),
    inspect: (opts = {}) => call((remote) => inspectIn(remote, opts)),
    export: (opts = {}) => call((remote) => remote.export(opts)),
    import: (files) => call(async (remote) => remote.import(Array.isArray(files) ? await modelFilesOf(files) : files)),
    save: (url) =>
      call(async (remote) => {
        await remote.save(url);
        lastSaved = url;
      }),
    load: (url) =>
      call(async (remote) => {
        const r = await remote.load(url);
        lastSaved = url;
        return r;
      }),
    stats: () =>
      call(async (remote) => {
        const st = await remote.stats();
        // After a lost WebGPU device the worker runs on the fallback: keep `backend` current.
        session.info.backend = st.backend;
        return st;
      }),
    restart: async () => {
      if (disposed) throw new EdgetuneError('DISPOSED', 'This classifier was disposed; create a new one');
      await session.close();
      session = await spawn(options);
      if (!lastSaved) return null;
      return call((remote) => remote.load(lastSaved!));
    },
    clearCache: () => call((remote) => remote.clearCache()),
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}

/** fineTune across the worker boundary: progress through a Comlink proxy, the AbortSignal as an abort() call. */
async function fineTuneIn(remote: Remote<WorkerApi>, opts: FineTuneOptions) {
  const { signal, onProgress, ...rest } = opts;
  if (signal?.aborted) throw new EdgetuneError('ABORTED', 'fineTune was aborted before it started');
  const onAbort = () => void remote.abort();
  signal?.addEventListener('abort', onAbort);
  try {
    return await remote.fineTune(rest, onProgress ? proxy(onProgress) : undefined);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** inspect across the worker boundary, like fineTune; a pool's images are transferred as the other calls' are. */
async function inspectIn(remote: Remote<WorkerApi>, opts: InspectOptions<ImageInput>) {
  const { signal, onProgress, pool, ...rest } = opts;
  if (signal?.aborted) throw new EdgetuneError('ABORTED', 'inspect was aborted before it started');
  const [imgs, t] = pool?.length ? await toWorkerImages(pool, 'inspect') : [[], []];
  const onAbort = () => void remote.abort();
  signal?.addEventListener('abort', onAbort);
  try {
    return await remote.inspect(transfer({ ...rest, ...(imgs.length ? { pool: imgs } : {}) }, t), onProgress ? proxy(onProgress) : undefined);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Files from a picker, keyed by their path inside the picked folder (merged/model.json, ...). */
async function modelFilesOf(files: File[]): Promise<ModelFiles> {
  const entries = await Promise.all(
    files.map(async (f) => {
      const path = (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
      return [path.split('/').slice(path.includes('/') ? 1 : 0).join('/'), new Uint8Array(await f.arrayBuffer())] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/** One worker with its Comlink endpoint, initialized; `crashed` rejects with WORKER_CRASHED when it dies. */
interface Session {
  remote: Remote<WorkerApi>;
  info: Awaited<ReturnType<WorkerApi['init']>>;
  crashed: Promise<never>;
  crash(): EdgetuneError | null;
  close(): Promise<void>;
}

/**
 * The package's worker. `new Worker(new URL('<literal>', import.meta.url))` written
 * inline is the one form every bundler (Vite, webpack 5, Rollup, Parcel, esbuild
 * plugins) recognises and emits as a worker entry; any other spelling leaves the
 * worker out of the app's build.
 */
function startWorker(workerUrl: string | URL | undefined): Worker {
  if (workerUrl !== undefined) return new Worker(workerUrl, { type: 'module', name: 'edgetune' });
  return new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'edgetune' });
}

/** What a failed worker start tells the user: the URL it came from, and what to pass. */
export function workerStartHint(workerUrl: string | URL | undefined, moduleUrl: string): string {
  if (workerUrl !== undefined) return `check that workerUrl (${String(workerUrl)}) serves edgetune's dist/worker.js as JavaScript`;
  // Vite's dev server pre-bundles dependencies into .vite/deps/, where the worker file is not.
  if (moduleUrl.includes('/.vite/deps/')) {
    return "Vite's dependency optimizer moved edgetune away from its worker: add optimizeDeps: { exclude: ['edgetune'] } to vite.config";
  }
  return `the worker is resolved as ./worker.js beside ${moduleUrl}; serve edgetune's dist/ there or pass workerUrl`;
}

async function spawn(options: ClassifierOptions): Promise<Session> {
  const { workerUrl, modelBaseUrl, wasmPaths, ...rest } = options;
  const worker = startWorker(workerUrl);
  const remote: Remote<WorkerApi> = wrap<WorkerApi>(worker);
  let started = false;
  // A crashed worker rejects every pending and later call with WORKER_CRASHED.
  let crash: EdgetuneError | null = null;
  const crashed = new Promise<never>((_, reject) => {
    const fail = (why: string) => {
      crash ??= new EdgetuneError('WORKER_CRASHED', `The edgetune worker stopped: ${why}. Call restart() to reload the last saved model.`);
      reject(crash);
    };
    worker.addEventListener('error', (e) => {
      // Handled here: it becomes WORKER_CRASHED on every call, not an uncaught error on the page.
      e.preventDefault();
      if (started) fail(e.message || 'an uncaught error in the worker');
      else fail(`${e.message || 'the worker script failed to load'} (${workerStartHint(workerUrl, import.meta.url)})`);
    });
    worker.addEventListener('messageerror', () => fail('a message could not be deserialized'));
  });
  crashed.catch(() => undefined);
  const close = async () => {
    if (!crash) await Promise.race([remote.dispose(), new Promise((r) => setTimeout(r, 1000))]).catch(() => undefined);
    worker.terminate();
  };
  try {
    // URLs cross as strings (URL objects do not survive postMessage); unset ones are
    // resolved in the worker, from the files its bundler emitted beside it.
    const init: WorkerInit = {
      ...rest,
      ...(modelBaseUrl !== undefined ? { modelBaseUrl: new URL(String(modelBaseUrl), location.href).href } : {}),
      ...(wasmPaths !== undefined ? { wasmPaths: typeof wasmPaths === 'string' ? new URL(wasmPaths, location.href).href : wasmPaths } : {}),
    };
    const info = await Promise.race([remote.init(init), crashed]);
    started = true;
    return { remote, info, crashed, crash: () => crash, close };
  } catch (err) {
    worker.terminate();
    throw err;
  }
}
