// The worker entry: the one module with side effects. The engine, tfjs and the
// chosen backend live in this worker, never on the main thread.
import { expose } from 'comlink';
import { installErrorTransfer } from '../error-transfer.js';
import { WorkerService } from './service.js';

/**
 * Every file the worker loads by default, each written as
 * `new URL('<literal>', import.meta.url)` in this entry module (dist/worker.js):
 * the one form Vite, webpack 5, Rollup and Parcel see, so an app's production
 * build emits these files and rewrites the URLs to where it put them, hashed names
 * or inlined data: URLs included. Keys are paths inside the package; a unit test
 * checks them against dist/wasm/ and the models' manifests.
 */
const PACKAGE_FILES: Record<string, URL> = {
  'dist/wasm/tfjs-backend-wasm.wasm': new URL('./wasm/tfjs-backend-wasm.wasm', import.meta.url),
  'dist/wasm/tfjs-backend-wasm-simd.wasm': new URL('./wasm/tfjs-backend-wasm-simd.wasm', import.meta.url),
  'dist/wasm/tfjs-backend-wasm-threaded-simd.wasm': new URL('./wasm/tfjs-backend-wasm-threaded-simd.wasm', import.meta.url),
  'models/mobilenet_v2_140/manifest.json': new URL('../models/mobilenet_v2_140/manifest.json', import.meta.url),
  'models/mobilenet_v2_140/model.json': new URL('../models/mobilenet_v2_140/model.json', import.meta.url),
  'models/mobilenet_v2_140/group1-shard1of2.bin': new URL('../models/mobilenet_v2_140/group1-shard1of2.bin', import.meta.url),
  'models/mobilenet_v2_140/group1-shard2of2.bin': new URL('../models/mobilenet_v2_140/group1-shard2of2.bin', import.meta.url),
  'models/mobilenet_v2/manifest.json': new URL('../models/mobilenet_v2/manifest.json', import.meta.url),
  'models/mobilenet_v2/model.json': new URL('../models/mobilenet_v2/model.json', import.meta.url),
  'models/mobilenet_v2/group1-shard1of1.bin': new URL('../models/mobilenet_v2/group1-shard1of1.bin', import.meta.url),
};

installErrorTransfer();
// The package root as this file sees it (dist/worker.js -> ../): the names above are relative to it.
expose(new WorkerService({ root: new URL('../', import.meta.url), files: PACKAGE_FILES }));
