// The faster Sum and Transpose against tfjs-backend-wasm's own kernels, to the bit:
// the shapes the tail's gradients produce, keepDims and negative axes, and the cases
// they must leave to the stock kernel (other axis orders, rows not in fours, int32 sums).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

import { registerWasmTrainingKernels, stockWasmKernel } from './wasm-kernels.js';
import { blockTranspose, columnSum } from './wasm-layout.js';

type Attrs = Record<string, unknown>;

/** Runs `wrap(stock)` and the stock kernel on `x`; returns both results' bits and whether the stock ran inside the wrapper. */
function compare(name: 'Sum' | 'Transpose', wrap: typeof columnSum, x: tf.Tensor, attrs: Attrs) {
  const stock = stockWasmKernel(name)!;
  let delegated = false;
  const spy = ((args: never) => {
    delegated = true;
    return stock(args);
  }) as unknown as tf.KernelFunc;
  const run = (f: tf.KernelFunc) => {
    const t = tf.engine().makeTensorFromTensorInfo(f({ inputs: { x }, backend: tf.backend(), attrs } as never) as tf.TensorInfo);
    const out = { shape: t.shape, bits: new Uint32Array(new Float32Array(t.dataSync()).buffer) };
    t.dispose();
    return out;
  };
  const fast = run(wrap(spy));
  return { fast, stock: run(stock), delegated };
}

/** Normal values at scale 1e3 with exact zeros and negative zeros: sums in another order round differently. */
function values(shape: number[], seed: number, dtype: 'float32' | 'int32' = 'float32'): tf.Tensor {
  return tf.tidy(() => {
    const v = tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), tf.scalar(1e3));
    const signedZeros = tf.where(tf.less(tf.randomUniform(shape, 0, 1, 'float32', seed + 1), 0.05), tf.fill(shape, -0), v);
    return dtype === 'int32' ? tf.cast(signedZeros, 'int32') : signedZeros;
  });
}

describe('WASM Sum and Transpose (same bits as the stock kernels)', () => {
  before(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    registerWasmTrainingKernels();
  });

  const sums: { shape: number[]; axis: number | number[]; keepDims?: boolean; fast: boolean }[] = [
    { shape: [392, 136], axis: 0, fast: true },
    { shape: [4, 7, 7, 24], axis: [0, 1, 2], fast: true },
    { shape: [4, 7, 7, 24], axis: [-4, -3], keepDims: true, fast: true },
    { shape: [3, 5, 8], axis: [1, 0], fast: false },
    { shape: [7, 6], axis: 0, fast: false },
    { shape: [8, 12], axis: 1, fast: false },
    { shape: [8, 12], axis: [0, 1], fast: false },
  ];
  for (const [i, c] of sums.entries()) {
    it(`Sum of [${c.shape}] over ${JSON.stringify(c.axis)}${c.keepDims ? ', keepDims' : ''}: ${c.fast ? 'column sums' : 'the stock kernel'}`, () => {
      const x = values(c.shape, i);
      const r = compare('Sum', columnSum, x, { axis: c.axis, keepDims: c.keepDims ?? false });
      x.dispose();
      assert.equal(r.delegated, !c.fast);
      assert.deepEqual(r.fast.shape, r.stock.shape);
      const differ = r.fast.bits.filter((b, e) => b !== r.stock.bits[e]).length;
      assert.equal(differ, 0, `${differ} of ${r.stock.bits.length} sums differ`);
    });
  }

  it('the column sum is order-sensitive data: another summation order changes bits', () => {
    // Guards the comparison above: with these values, summing rows in reverse differs somewhere.
    const x = values([392, 136], 0);
    const forward = tf.sum(x, 0);
    const backward = tf.sum(tf.reverse(x, 0), 0);
    const [f, b] = [forward.dataSync(), backward.dataSync()];
    tf.dispose([x, forward, backward]);
    assert.ok(f.some((v, e) => !Object.is(v, b[e])), 'reversed order rounds differently');
  });

  const transposes: { shape: number[]; dtype?: 'int32'; fast: boolean }[] = [
    { shape: [392, 136], fast: true },
    { shape: [136, 392], fast: true },
    { shape: [12, 8], dtype: 'int32', fast: true },
    { shape: [4, 4], fast: true },
    { shape: [5, 8], fast: false },
    { shape: [2, 4, 8], fast: false },
  ];
  for (const [i, c] of transposes.entries()) {
    it(`Transpose of [${c.shape}]${c.dtype ? ` ${c.dtype}` : ''}: ${c.fast ? 'SIMD blocks' : 'the stock kernel'}`, () => {
      const x = values(c.shape, 50 + i, c.dtype);
      const perm = c.shape.map((_, d) => c.shape.length - 1 - d);
      const r = compare('Transpose', blockTranspose, x, { perm });
      x.dispose();
      assert.equal(r.delegated, !c.fast);
      assert.deepEqual(r.fast.shape, [...c.shape].reverse());
      assert.deepEqual(r.fast.bits, r.stock.bits);
    });
  }

  it('tf.sum and tf.transpose give the right values through the registered kernels, with no tensor left behind', () => {
    const before = tf.memory().numTensors;
    const x = values([64, 40], 9);
    const [s, t] = [tf.sum(x, 0), tf.transpose(x)];
    assert.deepEqual([s.shape, t.shape], [[40], [40, 64]]);
    const [xs, ts] = [x.arraySync() as number[][], t.arraySync() as number[][]];
    for (let i = 0; i < 64; i++) for (let j = 0; j < 40; j++) assert.equal(ts[j]![i], xs[i]![j], `transpose [${j}][${i}]`);
    // Column sums in float64 against the kernel's float32 sums.
    const sums = s.arraySync() as number[];
    for (let j = 0; j < 40; j++) {
      const want = xs.reduce((a, row) => a + row[j]!, 0);
      assert.ok(Math.abs(sums[j]! - want) <= 1e-4 * Math.max(1, Math.abs(want)), `sum of column ${j}: ${sums[j]} vs ${want}`);
    }
    tf.dispose([x, s, t]);
    assert.equal(tf.memory().numTensors, before);
  });
});
