// ONNX Runtime's synchronous product: right for every transposition, and a tail
// that trains on it computes tfjs' features and gradients up to float32 rounding.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { createEngine } from '../engine/engine.js';
import { Tail } from '../engine/model/tail.js';
import { createRng } from '../engine/util/random.js';
import { loadOnnxRuntime, onnxRuntimeForward } from './onnx-forward.js';
import { onnxGemm } from './onnx-gemm.js';

/** op(a) x op(b) in float64, row-major. */
function reference(a: Float32Array, [ar, ac]: readonly number[], b: Float32Array, [br, bc]: readonly number[], ta: boolean, tb: boolean) {
  const [m, k, n] = [ta ? ac! : ar!, ta ? ar! : ac!, tb ? br! : bc!];
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ta ? p * ac! + i : i * ac! + p]! * b[tb ? j * bc! + p : p * bc! + j]!;
      out[i * n + j] = s;
    }
  return out;
}

describe('onnxGemm', () => {
  it('computes op(a) x op(b) for each transposition, on odd shapes', async () => {
    const gemm = onnxGemm(await loadOnnxRuntime(), 2);
    assert.ok(gemm, 'onnxruntime-node has its synchronous binding');
    const rng = createRng(5);
    const rand = (n: number) => Float32Array.from({ length: n }, () => rng() * 2 - 1);
    try {
      const [m, k, n] = [37, 19, 23];
      for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
        const aShape = (ta ? [k, m] : [m, k]) as [number, number];
        const bShape = (tb ? [n, k] : [k, n]) as [number, number];
        const [a, b] = [rand(m * k), rand(k * n)];
        const got: Float32Array = gemm(a, aShape, b, bShape, ta, tb);
        const want = reference(a, aShape, b, bShape, ta, tb);
        assert.equal(got.length, m * n);
        const d = got.reduce((mx, v, i) => Math.max(mx, Math.abs(v - want[i]!)), 0);
        assert.ok(d < 1e-5, `transA=${ta} transB=${tb}: max abs difference ${d}`);
      }
    } finally {
      gemm.dispose();
    }
  });

  it('gives the same bits on 1 and 2 threads (a run does not depend on --threads)', async () => {
    const ort = await loadOnnxRuntime();
    const [one, two] = [onnxGemm(ort, 1)!, onnxGemm(ort, 2)!];
    const rng = createRng(8);
    const [m, k, n] = [700, 300, 500];
    const [a, b] = [Float32Array.from({ length: m * k }, () => rng() - 0.5), Float32Array.from({ length: k * n }, () => rng() - 0.5)];
    try {
      for (const [ta, tb, aShape, bShape] of [
        [false, false, [m, k], [k, n]],
        [true, false, [k, m], [k, n]],
        [false, true, [m, k], [n, k]],
      ] as const) {
        assert.deepEqual(one(a, aShape, b, bShape, ta, tb), two(a, aShape, b, bShape, ta, tb), `transA=${ta} transB=${tb}`);
      }
    } finally {
      one.dispose();
      two.dispose();
    }
  });
});

describe('a tail on onnxGemm', () => {
  it('has the features and gradients of tfjs within float32 rounding, without leaking tensors', async () => {
    const engine = await createEngine({ backends: ['wasm', 'cpu'], forward: onnxRuntimeForward() });
    const tail = await Tail.fromBackbone(engine.backbone, 3);
    const x = tf.randomUniform([4, ...tail.prefixShape], 0, 2, 'float32', 9) as tf.Tensor4D;
    const pass = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tail.apply(x))) as tf.Scalar, tail.variables);
        return [tail.apply(x), value, ...tail.variables.map((v) => grads[v.name]!)];
      });
    try {
      assert.ok(engine.embedder.forward.gemm, 'the ONNX Runtime forward offers its product');
      const before = tf.memory().numTensors;
      const onTfjs = pass();
      const gemm = engine.embedder.forward.gemm;
      let products = 0;
      tail.useGemm((...args) => (products++, gemm(...args)));
      const onOrt = pass();
      assert.ok(products > 0, 'the tail ran its products on ONNX Runtime');
      onTfjs.forEach((t, i) => {
        const [a, b] = [t.dataSync() as Float32Array, onOrt[i]!.dataSync() as Float32Array];
        const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
        const d = a.reduce((m, v, j) => Math.max(m, Math.abs(v - b[j]!)), 0) / scale;
        assert.ok(d < 1e-4, `${i === 0 ? 'features' : i === 1 ? 'loss' : `gradient ${i - 2}`} differ by ${d} relative to its largest entry`);
      });
      tf.dispose([...onTfjs, ...onOrt]);
      assert.equal(tf.memory().numTensors, before);
    } finally {
      x.dispose();
      tail.dispose();
      await engine.dispose();
    }
  });

  it('is not offered when tailProducts is false', async () => {
    const engine = await createEngine({ backends: ['wasm', 'cpu'], forward: onnxRuntimeForward({ tailProducts: false }) });
    try {
      assert.equal(engine.embedder.forward.gemm, undefined);
    } finally {
      await engine.dispose();
    }
  });
});
