// WASM threads in Node: the backend starts with the count asked for, leaves the
// process as it found it (os.cpus, the global Worker, exiting), and a training step
// of the partial strategy's tail computes on threads what the CPU backend computes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../engine/backend.js';
import { loadBackbone, type Backbone } from '../engine/model/backbone.js';
import { DEFAULT_BACKBONE } from '../engine/model/manifest.js';
import { Tail } from '../engine/model/tail.js';
import { nodeWasmThreads } from './wasm-threads.js';

/** Value and gradients of one tail step on `backend`, as plain arrays. */
async function tailStep(tail: Tail, backend: string): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    // One view (49 rows per 1x1 convolution) already splits every matMul across the threads;
    // the CPU backend takes seconds per view.
    const x = tf.randomUniform([1, ...tail.prefixShape], 0, 2, 'float32', 5) as tf.Tensor4D;
    const { value, grads } = tf.variableGrads(() => {
      const y = tail.apply(x);
      return tf.sum(tf.mul(y, tf.randomUniform(y.shape, -1, 1, 'float32', 6))) as tf.Scalar;
    }, tail.variables);
    return [value, ...tail.variables.map((v) => grads[v.name]!)].map((t) => t.dataSync() as Float32Array);
  });
}

describe('WASM threads in Node', () => {
  const cpus = os.cpus().length;
  let backbone: Backbone;
  let tail: Tail;

  before(async () => {
    const info = await selectBackend({ backends: ['wasm'], wasmThreads: 2, wasmThreadsHost: nodeWasmThreads() });
    assert.equal(info.name, 'wasm');
    assert.equal(info.details.threads, 2, JSON.stringify(info.details));
    backbone = await loadBackbone(DEFAULT_BACKBONE);
    tail = await Tail.fromBackbone(backbone, 1);
  });
  after(() => {
    tail.dispose();
    backbone.dispose();
  });

  it('leaves os.cpus and the global Worker as they were', () => {
    assert.equal(os.cpus().length, cpus);
    const g = globalThis as { Worker?: { name?: string } };
    // Emscripten's glue sets node:worker_threads' Worker as a global; only that may remain.
    assert.ok(g.Worker === undefined || g.Worker.name === 'Worker', `global Worker is ${g.Worker?.name}`);
  });

  it('computes a tail training step as the CPU backend does', async () => {
    const wasm = await tailStep(tail, 'wasm');
    const cpu = await tailStep(tail, 'cpu');
    await tf.setBackend('wasm');
    assert.equal(wasm.length, tail.variables.length + 1);
    wasm.forEach((a, i) => {
      const b = cpu[i]!;
      let scale = 1e-3;
      let diff = 0;
      a.forEach((v, j) => {
        scale = Math.max(scale, Math.abs(b[j]!));
        diff = Math.max(diff, Math.abs(v - b[j]!));
      });
      assert.ok(diff <= 1e-4 * scale, `${i === 0 ? 'value' : tail.variables[i - 1]!.name}: max diff ${diff} (scale ${scale})`);
    });
  });

  it('lets the process exit on its own once the work is done', () => {
    // The built package, as a Node user imports it (npm test builds first).
    const script = `
      import { selectBackend } from './dist/engine/index.js';
      import { nodeWasmThreads } from './dist/engine/node.js';
      import * as tf from '@tensorflow/tfjs-core';
      const info = await selectBackend({ backends: ['wasm'], wasmThreads: 2, wasmThreadsHost: nodeWasmThreads() });
      tf.matMul(tf.ones([256, 256]), tf.ones([256, 256])).dataSync();
      console.log(info.details.threads);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.signal, null, 'the process hung (killed after 30 s)');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '2');
  });
});

describe('a threads host that fails', () => {
  it('still gives the WASM backend, and says why threads are off', async () => {
    const info = await selectBackend({
      backends: ['wasm'],
      wasmThreadsHost: {
        cores: 4,
        prepare() {
          throw new Error('no threads here');
        },
      },
    });
    assert.equal(info.name, 'wasm');
    assert.equal(info.details.threadsUnavailable, 'no threads here');
  });
});
