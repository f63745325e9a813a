// Loaded before tfjs-core's shipped specs (run.mjs bundles them after it): the
// CPU backend as the reference, the WASM backend with edgetune's training
// kernels registered, and the jasmine filter for the suites asked for.
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
// What the union package (and tfjs-layers, in edgetune) registers: gradients and chained ops.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// @ts-expect-error tfjs-core ships its jasmine helpers untyped for deep imports.
import { setTestEnvs, setupTestFilters } from '@tensorflow/tfjs-core/dist/jasmine_util';
import { registerWasmTrainingKernels } from '../../src/engine/kernels/wasm-kernels.js';

const require = createRequire(process.env.EDGETUNE_ROOT + '/package.json');
// The bundle lives outside the package: name the folder holding the backend's .wasm files.
setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
// One thread: the specs compare values, and a pool of workers would outlive the run.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
registerWasmTrainingKernels();

const backends = (process.env.SPEC_BACKENDS ?? 'cpu,wasm').split(',');
setTestEnvs(backends.map((name) => ({ name, backendName: name, isDataSync: true, flags: {} })));
const suites: string[] = JSON.parse(process.env.SPEC_SUITES ?? '[]');
setupTestFilters(
  suites.map((s) => ({ startsWith: `${s} ` })),
  () => false,
);
