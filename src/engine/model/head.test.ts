// The classifier head against hand computations: initialization, logits with
// standardization and dropout, the folded weights the exports write, copies that
// do not share state, and warm starts that keep shared classes and imprint new ones.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { featureStats, Head } from './head.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5, what = '') => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

/** A linear head over 3 features and 2 classes with known weights and statistics. */
function knownHead(): Head {
  const stats = { mean: tf.tensor1d([1, -2, 0.5]), invStd: tf.tensor1d([2, 0.5, 1]) };
  const head = Head.create({ inputSize: 3, numClasses: 2, hiddenUnits: 0 }, stats, 1);
  head.kernels[0]!.assign(tf.tensor2d([1, -1, 2, 0.5, -3, 1], [3, 2]));
  head.biases[0]!.assign(tf.tensor1d([0.25, -0.5]));
  // The head owns the statistics now.
  return head;
}

describe('Head', () => {
  before(() => tf.setBackend('cpu'));

  it('starts with a zero output layer and zero biases; hidden kernels Glorot-uniform and seeded', () => {
    const stats = featureStats(tf.randomNormal([20, 8], 0, 1, 'float32', 3) as tf.Tensor2D);
    const a = Head.create({ inputSize: 8, numClasses: 3, hiddenUnits: 5 }, stats, 7);
    const b = Head.create({ inputSize: 8, numClasses: 3, hiddenUnits: 5 }, stats, 7);
    const c = Head.create({ inputSize: 8, numClasses: 3, hiddenUnits: 5 }, stats, 8);
    try {
      assert.deepEqual(a.kernels.map((k) => k.shape), [[8, 5], [5, 3]]);
      assert.deepEqual(a.biases.map((k) => k.shape), [[5], [3]]);
      const hidden = a.kernels[0]!.dataSync();
      const limit = Math.sqrt(6 / 13);
      assert.ok(hidden.every((v) => Math.abs(v) <= limit) && Math.max(...hidden.map(Math.abs)) > limit / 2);
      assert.deepEqual(hidden, b.kernels[0]!.dataSync());
      assert.notDeepEqual(hidden, c.kernels[0]!.dataSync());
      assert.ok(a.kernels[1]!.dataSync().every((v) => v === 0));
      assert.ok([...a.biases[0]!.dataSync(), ...a.biases[1]!.dataSync()].every((v) => v === 0));
      assert.deepEqual(a.variables.map((v) => v.shape), [[8, 5], [5, 3], [5], [3]]);
    } finally {
      [a, b, c].forEach((h) => h.dispose());
    }
  });

  it('computes (x - mean) * invStd @ W + b, or takes standardized input as it is', () => {
    const head = knownHead();
    try {
      const x = [3, 0, 1.5];
      const z = [(3 - 1) * 2, (0 + 2) * 0.5, (1.5 - 0.5) * 1];
      const want = [z[0]! * 1 + z[1]! * 2 + z[2]! * -3 + 0.25, z[0]! * -1 + z[1]! * 0.5 + z[2]! * 1 - 0.5];
      close(tf.tidy(() => head.logits(tf.tensor2d([x])).dataSync()), want);
      close(tf.tidy(() => head.logits(tf.tensor2d([z]), 0, undefined, true).dataSync()), want);
      // The folded weights give the same logits on raw features (what the exports compute).
      const [w, b] = head.foldedWeights();
      close(tf.tidy(() => tf.add(tf.matMul(tf.tensor2d([x]), w!), b!).dataSync()), want);
      tf.dispose([w!, b!]);
      const model = head.toLayersModel();
      const softmax = (v: number[]) => v.map((e) => Math.exp(e) / v.reduce((s, t) => s + Math.exp(t), 0));
      close(tf.tidy(() => (model.predict(tf.tensor2d([x])) as tf.Tensor).dataSync()), softmax(want));
      assert.deepEqual(model.layers.map((l) => l.name), ['edgetune_logits']);
      model.dispose();
    } finally {
      head.dispose();
    }
  });

  it('drops inputs of the output layer only when training with dropout, seeded', () => {
    const stats = { mean: tf.zeros([4]) as tf.Tensor1D, invStd: tf.ones([4]) as tf.Tensor1D };
    const head = Head.create({ inputSize: 4, numClasses: 2, hiddenUnits: 0 }, stats, 1);
    try {
      head.kernels[0]!.assign(tf.ones([4, 2]));
      const x = tf.ones([64, 4]) as tf.Tensor2D;
      const plain = tf.tidy(() => head.logits(x).dataSync());
      assert.ok(plain.every((v) => v === 4));
      const dropped = tf.tidy(() => head.logits(x, 0.5, 3).dataSync());
      assert.ok(dropped.some((v) => v !== 4), 'some inputs dropped');
      assert.deepEqual(tf.tidy(() => head.logits(x, 0.5, 3).dataSync()), dropped, 'the same seed, the same mask');
      x.dispose();
    } finally {
      head.dispose();
    }
  });

  it('a clone, a snapshot and imported weights share no state with the original', () => {
    const head = knownHead();
    const copy = head.clone();
    const snap = head.snapshot();
    const imported = Head.fromWeights(head.spec, head.foldedWeights());
    try {
      head.kernels[0]!.assign(tf.zeros([3, 2]));
      assert.deepEqual(Array.from(copy.kernels[0]!.dataSync()), [1, -1, 2, 0.5, -3, 1]);
      head.restore(snap);
      assert.deepEqual(Array.from(head.kernels[0]!.dataSync()), [1, -1, 2, 0.5, -3, 1]);
      const x = tf.tensor2d([[0.3, -1, 4]]);
      close(tf.tidy(() => imported.logits(x).dataSync()), tf.tidy(() => head.logits(x).dataSync()));
      assert.deepEqual(Array.from(imported.mean.dataSync()), [0, 0, 0]);
      x.dispose();
    } finally {
      [head, copy, imported].forEach((h) => h.dispose());
      tf.dispose(snap);
    }
  });

  it('warm start: shared classes keep their columns, a new one is imprinted from its mean (or zero), hidden layers copied', async () => {
    const prev = knownHead();
    try {
      const mean = Float32Array.from([2, -1, 1.5]);
      const warm = await Head.warmFrom(prev, ['a', 'b'], ['b', 'c', 'a', 'd'], new Map([['c', mean]]));
      try {
        assert.deepEqual(warm.spec, { inputSize: 3, numClasses: 4, hiddenUnits: 0 });
        const k = warm.kernels[0]!.arraySync() as number[][];
        const col = (j: number) => k.map((row) => row[j]!);
        close(col(0), [-1, 0.5, 1], 0, 'b keeps its column');
        close(col(2), [1, 2, -3], 0, 'a keeps its column');
        close(col(3), [0, 0, 0], 0, 'd, with no mean, starts at zero');
        // c: its standardized mean, scaled to the mean column norm of a and b.
        const z = [(2 - 1) * 2, (-1 + 2) * 0.5, (1.5 - 0.5) * 1];
        const scale = (Math.hypot(1, 2, -3) + Math.hypot(-1, 0.5, 1)) / 2 / Math.hypot(...z);
        close(col(1), z.map((v) => v * scale), 1e-5, 'c imprinted');
        close(warm.biases[0]!.dataSync(), [-0.5, (0.25 - 0.5) / 2, 0.25, 0], 1e-6, 'biases');
        close(warm.mean.dataSync(), [1, -2, 0.5], 0, 'standardization kept');
      } finally {
        warm.dispose();
      }
      // A hidden layer: copied as it is; a new class is not imprinted (its mean is not in the output layer's space).
      const stats = { mean: tf.zeros([3]) as tf.Tensor1D, invStd: tf.ones([3]) as tf.Tensor1D };
      const deep = Head.create({ inputSize: 3, numClasses: 2, hiddenUnits: 4 }, stats, 5);
      const warmDeep = await Head.warmFrom(deep, ['a', 'b'], ['a', 'c'], new Map([['c', mean]]));
      try {
        assert.deepEqual(warmDeep.kernels[0]!.dataSync(), deep.kernels[0]!.dataSync());
        assert.ok((warmDeep.kernels[1]!.arraySync() as number[][]).every((row) => row[1] === 0));
      } finally {
        deep.dispose();
        warmDeep.dispose();
      }
    } finally {
      prev.dispose();
    }
  });

  it('featureStats: per-feature mean and 1 / (std + 1e-3)', async () => {
    const { mean, invStd } = featureStats(tf.tensor2d([[1, 5], [3, 5]]));
    close(await mean.data(), [2, 5]);
    close(await invStd.data(), [1 / 1.001, 1 / 0.001], 1e-2);
    tf.dispose([mean, invStd]);
  });
});
