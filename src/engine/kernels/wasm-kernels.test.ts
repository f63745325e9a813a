// edgetune's WASM training kernels against the CPU backend's own kernels (the
// reference): depthwise gradients for the tail's shapes (strides 1 and 2, SAME
// and VALID, channel multiplier 1 and 2), ReLU6's gradient, the copy-free Identity,
// the one-pass AdamW against the optimizer's own tfjs ops (to the bit), and the
// SIMD fp16 decoder against the 64K-entry table (every half).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs' gradients come with tfjs-layers (registered at its import), as in the engine.
import '@tensorflow/tfjs-layers';
import { AdamW } from '../train/optimizer.js';

import { ADAMW, registerWasmTrainingKernels, relu6, tensorFromHalves } from './wasm-kernels.js';
import { simdLoops } from './wasm-simd.js';
import { fromHalf } from '../util/fp16.js';

type Shape4 = [number, number, number, number];
type Case = { x: Shape4; k: Shape4; stride: number; pad: 'same' | 'valid' };
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
    for (const k of [tf.DepthwiseConv2dNativeBackpropInput, tf.DepthwiseConv2dNativeBackpropFilter, tf.Conv2DBackpropFilter, 'EdgetuneRelu6Backprop', ADAMW]) {
      assert.ok(tf.getKernel(k, 'wasm'), k);
    }
  });

  it('assembles the SIMD loops on the backend heap (Node has WebAssembly SIMD)', async () => {
    await tf.setBackend('wasm');
    const memory = (tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;
    const loops = simdLoops(memory);
    assert.ok(loops, 'the module validates and instantiates');
    // dst += a * b on 8 floats at a scratch offset of the heap (a tensor's own memory).
    const t = tf.zeros([24]);
    const at = (tf.backend() as unknown as { getMemoryOffset(id: object): number }).getMemoryOffset(t.dataId);
    const heap = new Float32Array(memory.buffer, at, 24);
    heap.set([1, 2, 3, 4, 5, 6, 7, 8], 0);
    heap.set([1, 1, 1, 1, 2, 2, 2, 2], 8);
    heap.set([0.5, 1, 1.5, 2, 0.5, 1, 1.5, 2], 16);
    loops.fma(at, at + 32, at + 64, 8);
    assert.deepEqual(Array.from(new Float32Array(memory.buffer, at, 8)), [1.5, 3, 4.5, 6, 6, 8, 10, 12]);
    // ReLU6 backprop: dy where 0 < y < 6 (dy: the first 8, y: the next 8), into the last 8.
    new Float32Array(memory.buffer, at + 32, 8).set([-1, 0, 0.5, 5.99, 6, 7, 3, -0]);
    loops.relu6Backprop(at + 64, at, at + 32, 8);
    assert.deepEqual(Array.from(new Float32Array(memory.buffer, at + 64, 8)), [0, 0, 4.5, 6, 0, 0, 10, 0]);
    t.dispose();
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

  // Regular convolutions (full fine-tuning's stem): the filter gradient only, as for a layer whose input is data.
  const CONV_CASES: Case[] = [
    { x: [2, 17, 17, 3], k: [3, 3, 3, 8], stride: 2, pad: 'same' },
    { x: [1, 9, 8, 5], k: [3, 2, 5, 4], stride: 1, pad: 'valid' },
    { x: [3, 6, 6, 2], k: [1, 1, 2, 6], stride: 1, pad: 'same' },
    { x: [4, 33, 31, 3], k: [5, 5, 3, 4], stride: 3, pad: 'same' },
  ];
  async function convFilterGrad(backend: string, c: Case, seed: number) {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const x = tf.randomUniform(c.x, -2, 2, 'float32', seed) as tf.Tensor4D;
      const k = tf.randomUniform(c.k, -1, 1, 'float32', seed + 1) as tf.Tensor4D;
      const dy = tf.randomUniform(tf.conv2d(x, k, c.stride, c.pad).shape, -1, 1, 'float32', seed + 2);
      const [dk] = tf.grads((w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, w as tf.Tensor4D, c.stride, c.pad), dy)))([k]);
      return dk!.dataSync();
    });
  }
  for (const [i, c] of CONV_CASES.entries()) {
    it(`Conv2DBackpropFilter matches the CPU backend: x [${c.x}], kernel [${c.k}], stride ${c.stride}, ${c.pad}`, async () => {
      const ref = await convFilterGrad('cpu', c, 100 + i);
      const got = await convFilterGrad('wasm', c, 100 + i);
      assert.equal(got.length, ref.length);
      const scale = Math.max(1, ...Array.from(ref, Math.abs));
      const maxRel = Math.max(...Array.from(ref, (r, e) => Math.abs(r - got[e]!) / scale));
      assert.ok(maxRel < 1e-5, `max relative difference ${maxRel}`);
      assert.ok(Array.from(ref).some((v) => v !== 0));
    });
  }

  it('Conv2DBackpropFilter sums image groups when the patch matrix passes its budget', async () => {
    // 3 x 3 x 512 patches (K = 4608) over 48 x 48 outputs: 42 MB per image, so four groups of one (PATCH_BYTES 64 MB).
    const c: Case = { x: [4, 48, 48, 512], k: [3, 3, 512, 2], stride: 1, pad: 'same' };
    const ref = await convFilterGrad('cpu', c, 7);
    const got = await convFilterGrad('wasm', c, 7);
    const scale = Math.max(1, ...Array.from(ref, Math.abs));
    const maxRel = Math.max(...Array.from(ref, (r, e) => Math.abs(r - got[e]!) / scale));
    assert.ok(maxRel < 1e-5, `max relative difference ${maxRel}`);
  });

  it("ReLU6's gradient is zero where the output is clipped, dy elsewhere", async () => {
    await tf.setBackend('wasm');
    // Nine values: two SIMD lanes of four and one JavaScript remainder.
    const [dx] = tf.tidy(() => {
      const x = tf.tensor1d([-1, 0.5, 3, 5.99, 6, 7, -0.1, 2, 1]);
      return tf.grads((a: tf.Tensor) => tf.sum(tf.mul(relu6(a), tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8, 9]))))([x]).map((t) => t.dataSync());
    });
    assert.deepEqual(Array.from(dx!), [0, 2, 3, 4, 0, 0, 0, 8, 9]);
  });

  it("AdamW's one-pass kernel gives the tfjs ops' weights and moments to the bit, with and without decay", async () => {
    await tf.setBackend('wasm');
    // Sizes with and without a remainder after lanes of four (the JavaScript loop's part).
    const shapes = [[37, 5], [10], [3, 3, 16, 1], [1792]];
    const run = (fused: boolean) => {
      const vars = tf.tidy(() => shapes.map((s, i) => tf.variable(tf.randomUniform(s, -1, 1, 'float32', i), true, `adamw-${fused}-${i}`)));
      const opt = new AdamW(vars, new Set([0, 2]), 1e-2, [1, 0.1, 1, 1], 0.9, 0.999, 1e-8, fused);
      for (let step = 0; step < 3; step++) {
        const grads = shapes.map((s, i) => tf.randomUniform(s, -step - 1, step + 1, 'float32', 100 * step + i));
        opt.apply(grads, 3e-4 * (step + 1));
        tf.dispose(grads);
      }
      const state = opt as unknown as { m: tf.Variable[]; v: tf.Variable[] };
      const out = [...vars, ...state.m, ...state.v].map((t) => new Uint32Array(Float32Array.from(t.dataSync()).buffer));
      opt.dispose();
      tf.dispose(vars);
      return out;
    };
    const numTensors = tf.memory().numTensors;
    const [ops, fused] = [run(false), run(true)];
    assert.equal(tf.memory().numTensors, numTensors, 'no tensor left behind');
    ops.forEach((ref, j) => {
      const differ = ref.filter((bits, e) => bits !== fused[j]![e]).length;
      assert.equal(differ, 0, `array ${j}: ${differ} of ${ref.length} floats differ`);
    });
    // The updates did move the weights.
    const init = tf.randomUniform([37, 5], -1, 1, 'float32', 0);
    const start = new Uint32Array((init.dataSync() as Float32Array).slice().buffer);
    init.dispose();
    assert.ok(ops[0]!.some((bits, e) => bits !== start[e]), 'the weights moved');
  });

  it('decodes every fp16 value as the table does, straight into a WASM tensor, rows in order', async () => {
    await tf.setBackend('wasm');
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const ref = fromHalf(all);
    const before = tf.memory().numTensors;
    // Two rows: every half, then every half reversed.
    const t = tensorFromHalves([all, all.slice().reverse()], [2, 256, 256]);
    assert.ok(t, 'the WASM path applies');
    const got = new Uint32Array(Float32Array.from(await t.data()).buffer);
    t.dispose();
    assert.equal(tf.memory().numTensors, before);
    const bits = new Uint32Array(ref.buffer as ArrayBuffer);
    let differ = 0;
    for (let i = 0; i < 65536; i++) {
      const [a, b] = [got[i]!, got[131071 - i]!];
      // NaN payloads included: the decoder keeps the mantissa bits, as the table's NaN does not; compare NaN-ness there.
      const nan = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      const same = (x: number) => (nan(i) ? Number.isNaN(new Float32Array(Uint32Array.of(x).buffer)[0]) : x === bits[i]);
      if (!same(a) || !same(b)) differ++;
    }
    assert.equal(differ, 0, `${differ} halves decode differently`);
    // Shapes it does not cover are left to the caller.
    assert.equal(tensorFromHalves([new Uint16Array(6)], [6]), null);
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
