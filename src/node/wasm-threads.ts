// Threads for tfjs-backend-wasm in Node. The backend turns them off there
// (tensorflow/tfjs#3830), yet its threaded Emscripten module supports Node: what
// fails is only how tfjs hands the module its thread script, a Blob URL that
// node:worker_threads cannot start. This host starts each thread from the script
// the package ships (wasm-out/*.worker.js) and points the thread at the package's
// own module file instead of a Blob, so the code that runs is tfjs's, unchanged.
import { createRequire } from 'node:module';
import os from 'node:os';
import vm from 'node:vm';
import { Worker as NodeWorker, type WorkerOptions } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { WasmThreadsHost } from '../engine/backend.js';

const require = createRequire(import.meta.url);
const WASM_OUT = '@tensorflow/tfjs-backend-wasm/wasm-out/';

/** The thread's bootstrap: what a browser worker gets as globals, then tfjs's thread script. */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
globalThis.require = require;
globalThis.__filename = workerData.moduleFile;
(0, eval)(workerData.threadScript);
`;

interface ThreadFiles {
  /** tfjs's pthread script (the text tfjs puts in its Blob). */
  threadScript: string;
  /** The threaded module's factory, which the thread loads with importScripts. */
  moduleFile: string;
}

let files: ThreadFiles | null = null;
function threadFiles(): ThreadFiles {
  if (!files) {
    const script = require(`${WASM_OUT}tfjs-backend-wasm-threaded-simd.worker.js`) as { wasmWorkerContents?: unknown };
    if (typeof script.wasmWorkerContents !== 'string') throw new Error('tfjs-backend-wasm ships no thread script');
    // The text holds escapes that the template literal turned into newlines inside
    // string literals; tfjs re-escapes them the same way before making its Blob.
    const threadScript = script.wasmWorkerContents.replace(/\n/g, '\\n');
    new vm.Script(threadScript); // a syntax error here, not in a thread that would take the process down
    files = { threadScript, moduleFile: require.resolve(`${WASM_OUT}tfjs-backend-wasm-threaded-simd.js`) };
  }
  return files;
}

/** node:worker_threads' Worker, accepting the Blob URL the threaded module asks for. */
function threadWorkerClass(f: ThreadFiles): typeof NodeWorker {
  return class ThreadWorker extends NodeWorker {
    constructor(script: string | URL, options?: WorkerOptions) {
      if (!String(script).startsWith('blob:')) {
        super(script, options);
        return;
      }
      // No inherited flags: --input-type=module would make the bootstrap an ES module.
      super(BOOTSTRAP, { eval: true, workerData: f, execArgv: [] });
      this.unref();
    }

    /**
     * Emscripten refs a thread while it runs, and XNNPACK's threads run for the
     * process's life: they would keep Node from exiting. Their work is always
     * waited for synchronously by the main thread, so no thread needs a ref.
     */
    override ref(): void {}

    override postMessage(message: unknown, transfer?: Parameters<NodeWorker['postMessage']>[1]): void {
      const m = message as { cmd?: string; urlOrBlob?: unknown } | null;
      // The module's source comes as a Blob; the thread reads the package's file instead.
      const sent = m?.cmd === 'load' && typeof m.urlOrBlob !== 'string' ? { ...m, urlOrBlob: f.moduleFile } : message;
      super.postMessage(sent, transfer);
    }
  };
}

/**
 * Emscripten's Node glue sets a global `Worker` when the module starts; while it
 * starts, that global is the class above. Returns what puts the glue's value back.
 */
function substituteWorker(replacement: typeof NodeWorker): () => void {
  const g = globalThis as { Worker?: unknown };
  const before = Object.getOwnPropertyDescriptor(g, 'Worker');
  let assigned: unknown = before?.value;
  Object.defineProperty(g, 'Worker', {
    configurable: true,
    get: () => replacement,
    set: (v) => {
      assigned = v;
    },
  });
  return () => {
    if (assigned === undefined) delete g.Worker;
    else Object.defineProperty(g, 'Worker', { value: assigned, writable: true, configurable: true, enumerable: false });
  };
}

/**
 * tfjs sizes the pool at half the logical cores it reads when the module starts
 * (os.cpus() in Node), assuming two hyper-threads per core; reporting twice the
 * wanted count while it starts lets setThreadsCount decide.
 */
function reportCores(threads: number): () => void {
  const cpus = os.cpus;
  const one = cpus()[0];
  os.cpus = () => Array.from({ length: 2 * threads }, () => one!);
  return () => {
    os.cpus = cpus;
  };
}

/**
 * Threads for the WASM backend in Node, for createEngine({ wasmThreadsHost }).
 * The CLI uses it; the default count is os.availableParallelism().
 *
 * @example
 *   const engine = await createEngine({ backends: ['wasm'], wasmThreadsHost: nodeWasmThreads() });
 *   engine.backend.details.threads // 2 on a 2-core machine
 */
export function nodeWasmThreads(): WasmThreadsHost {
  return {
    cores: os.availableParallelism(),
    prepare(threads) {
      if (threads <= 1) return () => {};
      const f = threadFiles();
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
      const restoreWorker = substituteWorker(threadWorkerClass(f));
      const restoreCores = reportCores(threads);
      return () => {
        restoreCores();
        restoreWorker();
      };
    },
  };
}
