// Ordered backend selection with reasons, after ONNX Runtime Web's backend
// resolution: try each preferred backend, record why it was skipped, throw
// only when all fail, listing every reason.
import * as tf from '@tensorflow/tfjs-core';
import { EdgetuneError } from '../errors.js';
import type { BackendInfo, BackendName } from '../types.js';

export interface BackendOptions {
  /** Preference order. @default ['webgpu', 'wasm', 'cpu'] where WebGPU can exist, else ['wasm', 'cpu'] */
  backends?: BackendName[];
  /** Where the tfjs `.wasm` files are served from (a prefix ending in `/`, or a file map). */
  wasmPaths?: string | Record<string, string>;
  /**
   * WASM threads (XNNPACK's pool, at most 8); 1 when the page is not cross-origin
   * isolated, and in Node without `wasmThreadsHost`. `backend.details.threads`
   * reports the count in use.
   * @default the host's cores (navigator.hardwareConcurrency in a browser)
   */
  wasmThreads?: number;
  /**
   * How this platform starts tfjs-backend-wasm's threaded module. Browsers need
   * none (cross-origin isolation is enough); in Node, `nodeWasmThreads()` from
   * edgetune/node, which the CLI uses.
   */
  wasmThreadsHost?: WasmThreadsHost;
}

/**
 * Starts tfjs-backend-wasm's threaded module where the backend cannot by itself.
 * The module is started once per process: a later engine reuses it.
 */
export interface WasmThreadsHost {
  /** The default thread count. */
  readonly cores: number;
  /**
   * Readies the platform for the module's start with `threads` threads; throws with
   * the reason where it cannot. Returns what undoes it once the backend is initialized.
   */
  prepare(threads: number): () => void;
}

export const ALL_BACKENDS: readonly BackendName[] = ['webgpu', 'wasm', 'cpu'];

/** Default order: WebGPU only where a `navigator` could expose it (browsers, not Node). */
export function defaultBackendOrder(): BackendName[] {
  return typeof navigator !== 'undefined' && 'gpu' in navigator ? ['webgpu', 'wasm', 'cpu'] : ['wasm', 'cpu'];
}

type Details = BackendInfo['details'];

/** tfjs-backend-wasm's thread pool has 8 workers at most. */
const MAX_WASM_THREADS = 8;

/**
 * tfjs-backend-wasm caps its pool at half of navigator.hardwareConcurrency, read
 * once when the threaded module starts (it assumes two hyper-threads per core),
 * whatever setThreadsCount asks for. Reporting twice the wanted count while the
 * module starts lets setThreadsCount decide; the returned function restores the
 * real value.
 */
function reportCoresWhileStarting(threads: number): () => void {
  const nav = globalThis.navigator as { hardwareConcurrency?: number } | undefined;
  if (!nav) return () => {};
  try {
    Object.defineProperty(nav, 'hardwareConcurrency', { value: 2 * threads, configurable: true });
  } catch {
    return () => {};
  }
  return () => {
    delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency;
  };
}

/** A browser page: threads need SharedArrayBuffer, i.e. a cross-origin isolated page (COOP/COEP). */
function pageThreadsHost(): WasmThreadsHost | null {
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== true) return null;
  const cores = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)?.hardwareConcurrency ?? 1;
  return { cores, prepare: reportCoresWhileStarting };
}

/**
 * Each candidate loads its tfjs backend module lazily (bundles only pay for what
 * is used); it may return a function to run once the backend is initialized.
 */
const candidates: Record<BackendName, (opts: BackendOptions, details: Details) => Promise<(() => void) | void>> = {
  async webgpu(_opts, details) {
    const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)?.gpu;
    if (!gpu) throw new Error('navigator.gpu is not available (no WebGPU in this context, or not a secure origin)');
    const adapter = (await gpu.requestAdapter()) as { info?: { vendor?: string; architecture?: string } } | null;
    if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned null (no usable GPU adapter)');
    const info = adapter.info;
    if (info) details.adapter = [info.vendor, info.architecture].filter(Boolean).join(' ') || 'unknown';
    if (details.adapter && /swiftshader/i.test(String(details.adapter))) details.software = true;
    await import('@tensorflow/tfjs-backend-webgpu');
  },
  async wasm(opts, details) {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (opts.wasmPaths) wasm.setWasmPaths(opts.wasmPaths);
    details.crossOriginIsolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
    const host = opts.wasmThreadsHost ?? pageThreadsHost();
    if (!host) return;
    const threads = Math.min(MAX_WASM_THREADS, Math.max(1, Math.floor(opts.wasmThreads ?? host.cores)));
    try {
      const undo = host.prepare(threads);
      wasm.setThreadsCount(threads);
      return undo;
    } catch (err) {
      // Still a backend, on one thread: say why.
      details.threadsUnavailable = describe(err);
    }
  },
  async cpu() {
    await import('@tensorflow/tfjs-backend-cpu');
  },
};

/** A tiny numeric self-test: catches backends that initialize but compute garbage (NaN, zeros). */
async function selfTest(): Promise<void> {
  const out = tf.tidy(() => {
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const b = tf.tensor2d([0.5, -1, 2, 0.25], [2, 2]);
    return tf.relu(tf.add(tf.matMul(a, b), 1));
  });
  const got = Array.from(await out.data());
  out.dispose();
  const want = [5.5, 0.5, 10.5, 0]; // relu([[4.5,-0.5],[9.5,-2]] + 1)
  if (got.some((v: number, i: number) => !Number.isFinite(v) || Math.abs(v - want[i]!) > 1e-3)) {
    throw new Error(`self-test failed: got [${got.join(', ')}], expected [${want.join(', ')}]`);
  }
}

/** Where the .wasm binaries were looked for, and the option that moves them. */
function wasmHint(paths: BackendOptions['wasmPaths']): string {
  const where = paths === undefined ? "tfjs-backend-wasm's default location" : typeof paths === 'string' ? paths : Object.values(paths).join(', ');
  return ` (its .wasm binaries load from ${where}; pass wasmPaths, the folder holding edgetune's dist/wasm/ files)`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Initializes the first preferred backend that works.
 *
 * @returns the chosen backend and, for each one skipped, why.
 * @throws EdgetuneError `BACKEND_UNAVAILABLE` listing every reason when none works,
 *   `INVALID_ARGUMENT` for an unknown backend name.
 * @example
 *   await selectBackend({ backends: ['wasm', 'cpu'] })
 *   // { name: 'wasm', reasons: {}, details: { simd: true, threads: 1, crossOriginIsolated: false } }
 */
export async function selectBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  const order = opts.backends ?? defaultBackendOrder();
  if (order.length === 0) throw new EdgetuneError('INVALID_ARGUMENT', 'backends must list at least one backend');
  const reasons: BackendInfo['reasons'] = {};
  for (const name of order) {
    if (!ALL_BACKENDS.includes(name)) {
      throw new EdgetuneError('INVALID_ARGUMENT', `Unknown backend '${name}'. Valid backends are: ${ALL_BACKENDS.join(', ')}`);
    }
    const details: Details = {};
    let started: (() => void) | void;
    try {
      started = await candidates[name](opts, details);
      // setBackend resolves false instead of throwing when initialization fails.
      const ok = await tf.setBackend(name).finally(() => started?.());
      if (!ok) throw new Error(`tf.setBackend('${name}') failed to initialize${name === 'wasm' ? wasmHint(opts.wasmPaths) : ''}`);
      await tf.ready();
      await selfTest();
      if (name === 'wasm') {
        details.simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        details.threads = wasm.getThreadsCount();
      }
      return { name, reasons, details };
    } catch (err) {
      reasons[name] = describe(err);
    }
  }
  const list = order.map((n) => `[${n}] ${reasons[n]}`).join('; ');
  throw new EdgetuneError('BACKEND_UNAVAILABLE', `No backend could be initialized: ${list}`);
}
