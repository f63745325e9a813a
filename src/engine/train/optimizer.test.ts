// AdamW against a reference written from the paper (Loshchilov & Hutter, decoupled
// weight decay, with Adam's bias correction) in float64: both of edgetune's paths
// (tfjs ops on the CPU backend, the fused kernel on WASM) over several steps.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { AdamW } from './optimizer.js';
import { createRng } from '../util/random.js';

const B1 = 0.9;
const B2 = 0.999;
const EPS = 1e-8;

/** Float64 AdamW: m, v moving averages; m̂ = m / (1 - b1^t), v̂ = v / (1 - b2^t); w -= lr (m̂ / (sqrt(v̂) + eps) + wd w). */
function reference(w0: number[], grads: number[][], lrs: number[], wd: number, lrScale: number): number[] {
  const w = [...w0];
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < w.length; i++) {
      m[i] = B1 * m[i]! + (1 - B1) * g[i]!;
      v[i] = B2 * v[i]! + (1 - B2) * g[i]! ** 2;
      const mHat = m[i]! / (1 - B1 ** t);
      const vHat = v[i]! / (1 - B2 ** t);
      w[i] = w[i]! - lrs[s]! * lrScale * (mHat / (Math.sqrt(vHat) + EPS) + wd * w[i]!);
    }
  });
  return w;
}

async function run(backend: 'cpu' | 'wasm', fused: boolean): Promise<{ got: number[][]; want: number[][]; w0: number[][] }> {
  await tf.setBackend(backend);
  const rng = createRng(11);
  const w0 = [Array.from({ length: 37 }, () => rng() * 2 - 1), Array.from({ length: 5 }, () => rng() - 0.5)];
  // Gradients of different scales, steps with their own learning rate (a schedule), as training has.
  const grads = [0, 1, 2, 3, 4].map((s) => w0.map((w) => w.map(() => (rng() - 0.5) * 10 ** (s - 2))));
  const lrs = [1e-2, 5e-3, 2e-2, 1e-3, 1e-2];
  const vars = w0.map((w) => tf.variable(tf.tensor1d(w)));
  const opt = new AdamW(vars, new Set([0]), 0.05, [1, 0.1], B1, B2, EPS, fused);
  try {
    grads.forEach((g, s) => {
      const gs = g.map((x) => tf.tensor1d(x));
      opt.apply(gs, lrs[s]!);
      tf.dispose(gs);
    });
    const got = vars.map((x) => Array.from(x.dataSync()));
    const want = [reference(w0[0]!, grads.map((g) => g[0]!), lrs, 0.05, 1), reference(w0[1]!, grads.map((g) => g[1]!), lrs, 0, 0.1)];
    return { got, want, w0 };
  } finally {
    opt.dispose();
    tf.dispose(vars);
  }
}

function maxDiff(a: number[][], b: number[][]): number {
  return Math.max(...a.flatMap((row, i) => row.map((x, j) => Math.abs(x - b[i]![j]!))));
}

describe('AdamW against a float64 reference', () => {
  after(() => tf.setBackend('cpu'));
  for (const [backend, fused] of [['cpu', false], ['wasm', true], ['wasm', false]] as const) {
    it(`${backend}${fused ? ', fused kernel' : ', tfjs ops'}: five steps with decay, per-variable rates and a schedule, within 1e-6`, async () => {
      const { got, want, w0 } = await run(backend, fused);
      const d = maxDiff(got, want);
      assert.ok(d < 1e-6, `max difference ${d}`);
      // The steps moved the weights by far more than the tolerance: the comparison has teeth.
      assert.ok(maxDiff(want, w0) > 1e-3, `the weights moved by ${maxDiff(want, w0)}`);
    });
  }

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: a step keeps no tensor of its own`, async () => {
      await tf.setBackend(backend);
      const vars = [tf.variable(tf.tensor1d([1, 2, 3])), tf.variable(tf.tensor1d([0.5]))];
      const opt = new AdamW(vars, new Set([0]), 0.01);
      const g = [tf.tensor1d([0.1, -0.2, 0.3]), tf.tensor1d([1])];
      opt.apply(g, 0.1);
      const before = tf.memory().numTensors;
      for (let s = 0; s < 3; s++) opt.apply(g, 0.1);
      assert.equal(tf.memory().numTensors, before);
      opt.dispose();
      tf.dispose([...vars, ...g]);
    });
  }
});
