// edgetune's WASM training kernels against the CPU backend's own kernels (the
// reference): depthwise gradients for the tail's shapes (strides 1 and 2, SAME
// and VALID, channel multiplier 1 and 2), ReLU6's gradient, and the copy-free Identity.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs' gradients come with tfjs-layers (registered at its import), as in the engine.
import '@tensorflow/tfjs-layers';
import { registerWasmTrainingKernels, relu6 } from './wasm-kernels.js';

type Case = { x: number[]; k: number[]; stride: number; pad: 'same' | 'valid' };
const CASES: Case[] = [
  { x: [2, 7, 7, 12], k: [3, 3, 12, 1], stride: 1, pad: 'same' },
  { x: [2, 14, 14, 8], k: [3, 3, 8, 1], stride: 2, pad: 'same' },
  { x: [1, 9, 9, 4], k: [3, 3, 4, 1], stride: 2, pad: 'valid' },
  { x: [1, 6, 5, 3], k: [3, 3, 3, 2], stride: 1, pad: 'same' },
];

/** Value and gradients of a depthwise conv + ReLU6 (through the ops the tail uses) on `backend`. */
async function run(backend: string, c: Case, seed: number) {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const x = tf.randomUniform(c.x, -2, 2, 'float32', seed) as tf.Tensor4D;
    const k = tf.randomUniform(c.k, -1, 1, 'float32', seed + 1) as tf.Tensor4D;
    const bias = tf.randomUniform([c.k[2]! * c.k[3]!], -1, 1, 'float32', seed + 2);
    const dyW = tf.randomUniform(
      tf.depthwiseConv2d(x, k, c.stride, c.pad).shape,
      -1,
      1,
      'float32',
      seed + 3,
    );
    const f = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
      tf.sum(tf.mul(relu6(tf.mul(tf.fused.depthwiseConv2d({ x: a as tf.Tensor4D, filter: b as tf.Tensor4D, strides: c.stride, pad: c.pad, bias: d }), 4)), dyW));
    const g = tf.grads(f)([x, k, bias]);
    return [f(x, k, bias), ...g].map((t) => t.dataSync());
  });
}

describe('WASM training kernels', () => {
  before(async () => {
    await tf.ready();
    await tf.setBackend('wasm');
    registerWasmTrainingKernels();
  });

  it('registers the depthwise gradients tfjs-backend-wasm lacks, and ReLU6 backprop', () => {
    for (const k of [tf.DepthwiseConv2dNativeBackpropInput, tf.DepthwiseConv2dNativeBackpropFilter, 'EdgetuneRelu6Backprop']) {
      assert.ok(tf.getKernel(k, 'wasm'), k);
    }
  });

  for (const [i, c] of CASES.entries()) {
    it(`matches the CPU backend: x [${c.x}], kernel [${c.k}], stride ${c.stride}, ${c.pad}`, async () => {
      const cpu = await run('cpu', c, 10 * i);
      const wasm = await run('wasm', c, 10 * i);
      const names = ['value', 'dx', 'dfilter', 'dbias'];
      cpu.forEach((ref, j) => {
        const got = wasm[j]!;
        assert.equal(got.length, ref.length);
        let maxRel = 0;
        const scale = Math.max(1, ...Array.from(ref, Math.abs));
        ref.forEach((r, e) => (maxRel = Math.max(maxRel, Math.abs(r - got[e]!) / scale)));
        assert.ok(maxRel < 1e-5, `${names[j]}: max relative difference ${maxRel}`);
        // The gradients are not trivially zero: ReLU6 passes part of them.
        if (j > 0) assert.ok(Array.from(ref).some((v) => v !== 0), `${names[j]} is all zeros`);
      });
    });
  }

  it("ReLU6's gradient is zero where the output is clipped, dy elsewhere", async () => {
    await tf.setBackend('wasm');
    const [dx] = tf.tidy(() => {
      const x = tf.tensor1d([-1, 0.5, 3, 5.99, 6, 7]);
      return tf.grads((a: tf.Tensor) => tf.sum(tf.mul(relu6(a), tf.tensor1d([1, 2, 3, 4, 5, 6]))))([x]).map((t) => t.dataSync());
    });
    assert.deepEqual(Array.from(dx!), [0, 2, 3, 4, 0, 0]);
  });

  it('clones without copying, and a clone outlives its source', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numDataBuffers;
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    assert.equal(tf.memory().numDataBuffers - before, 1, 'one buffer for both');
    a.dispose();
    assert.deepEqual(Array.from(await b.data()), [1, 2, 3]);
    b.dispose();
    assert.equal(tf.memory().numDataBuffers, before);
  });
});
