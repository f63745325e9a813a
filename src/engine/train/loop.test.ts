// Head training on generated embeddings: class balancing moves the decision
// boundary towards the majority class, so the minority's recall rises; the
// training loss's closed-form gradient against tfjs' autodiff of its own loss.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { FeatureRows } from '../data/feature-rows.js';
import { TRAIN_DEFAULTS } from '../config.js';
import { featureStats, Head } from '../model/head.js';
import { createRng } from '../util/random.js';
import { balancedClassWeights, smoothedLoss, trainHead } from './loop.js';

/** Two overlapping Gaussian classes in 16-d: 300 majority (mean 0), 15 minority (mean 0.8 on every axis). */
function overlapping(seed: number, nMajor = 300, nMinor = 15) {
  const rng = createRng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rng() || 1e-12)) * Math.cos(2 * Math.PI * rng());
  const d = 16;
  const rows: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < nMajor + nMinor; i++) {
    const minor = i >= nMajor;
    for (let j = 0; j < d; j++) rows.push(gauss() + (minor ? 0.8 : 0));
    labels.push(minor ? 1 : 0);
  }
  return { x: new FeatureRows(Float32Array.from(rows), d), labels: Int32Array.from(labels), d };
}

async function minorityRecall(balance: boolean): Promise<number> {
  const train = overlapping(1);
  const test = overlapping(2, 300, 300);
  const n = train.labels.length;
  const counts = [0, 1].map((c) => train.labels.filter((l) => l === c).length);
  const head = Head.create({ inputSize: train.d, numClasses: 2, hiddenUnits: 0 }, tf.tidy(() => featureStats(train.x.gather(Array.from({ length: train.x.count }, (_, i) => i)))), 1);
  try {
    await trainHead(
      head,
      {
        x: train.x,
        labels: train.labels,
        views: Array.from({ length: n }, (_, i) => [i]),
        trainIdx: Array.from({ length: n }, (_, i) => i),
        valIdx: [],
        numClasses: 2,
        classWeights: balance ? balancedClassWeights(counts) : Float32Array.of(1, 1),
      },
      { ...TRAIN_DEFAULTS, epochs: 30, augment: 0, learningRate: 1e-2, labelSmoothing: 0 },
    );
    const pred = tf.tidy(() => tf.argMax(head.logits(test.x.gather(Array.from({ length: test.x.count }, (_, i) => i))), 1));
    const p = await pred.data();
    pred.dispose();
    let hit = 0;
    let total = 0;
    test.labels.forEach((l, i) => l === 1 && (total++, p[i] === 1 && hit++));
    return hit / total;
  } finally {
    head.dispose();
  }
}

describe('class balancing (generated, imbalanced embeddings)', () => {
  it('raises the minority class recall over unweighted training', async () => {
    await tf.setBackend('cpu');
    const off = await minorityRecall(false);
    const on = await minorityRecall(true);
    console.log(`# minority recall: ${off.toFixed(3)} unweighted -> ${on.toFixed(3)} balanced`);
    assert.ok(on > off + 0.1, `balanced ${on} vs unweighted ${off}`);
  });

  it('computes scikit-learn style balanced weights n / (k * n_c)', () => {
    assert.deepEqual([...balancedClassWeights([300, 15])].map((w) => +w.toFixed(4)), [0.525, 10.5]);
    // A class with no training example gets no weight (not an infinite one).
    assert.deepEqual([...balancedClassWeights([3, 0, 1])], [4 / 9, 0, 4 / 3].map((w) => Math.fround(w)));
  });
});

describe('the training loss (closed-form gradient)', () => {
  it("equals tfjs' weighted, label-smoothed softmax cross-entropy, value and gradient", async () => {
    await tf.setBackend('cpu');
    const [n, k, smoothing] = [7, 5, 0.1];
    const labels = Int32Array.of(0, 4, 2, 2, 1, 3, 0);
    const classWeights = Float32Array.of(0.5, 2, 1, 1.5, 3);
    const before = tf.memory().numTensors;
    const [ours, ref] = tf.tidy(() => {
      const z = tf.randomNormal([n, k], 0, 3, 'float32', 4) as tf.Tensor2D;
      const w = tf.tensor1d(Float32Array.from(labels, (c) => classWeights[c]!));
      const reference = (x: tf.Tensor) => {
        const per = tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), k), x as tf.Tensor2D, undefined, smoothing, tf.Reduction.NONE);
        return tf.div(tf.sum(tf.mul(per, w)), tf.sum(w)) as tf.Scalar;
      };
      const loss = smoothedLoss(labels, classWeights, k, smoothing);
      const a = tf.valueAndGrad(loss)(z);
      const b = tf.valueAndGrad(reference)(z);
      return [[a.value.dataSync(), a.grad.dataSync()], [b.value.dataSync(), b.grad.dataSync()]];
    });
    assert.equal(tf.memory().numTensors, before);
    assert.ok(Math.abs(ours[0]![0]! - ref[0]![0]!) < 1e-6, `loss ${ours[0]![0]} vs ${ref[0]![0]}`);
    const maxDiff = Math.max(...Array.from(ref[1]!, (g, i) => Math.abs(g - ours[1]![i]!)));
    assert.ok(maxDiff < 1e-7, `gradient differs by ${maxDiff}`);
    assert.ok(ref[1]!.some((g) => Math.abs(g) > 1e-3), 'a gradient to compare');
  });
});

describe('trainHead on a diverging run', () => {
  it('stops with TRAINING_DIVERGED when the loss is not a finite number, without leaking tensors', async () => {
    const data = overlapping(3, 20, 20);
    data.x.data.fill(Number.POSITIVE_INFINITY, 5 * data.d, 6 * data.d);
    const n = data.labels.length;
    const before = tf.memory().numTensors;
    const head = Head.create({ inputSize: data.d, numClasses: 2, hiddenUnits: 0 }, tf.tidy(() => featureStats(data.x.gather(Array.from({ length: n }, (_, i) => i)))), 1);
    try {
      await assert.rejects(
        trainHead(
          head,
          { x: data.x, labels: data.labels, views: Array.from({ length: n }, (_, i) => [i]), trainIdx: Array.from({ length: n }, (_, i) => i), valIdx: [], numClasses: 2, classWeights: Float32Array.of(1, 1) },
          { ...TRAIN_DEFAULTS, epochs: 5, augment: 0 },
        ),
        (e: unknown) => (e as { code?: string }).code === 'TRAINING_DIVERGED' && /epoch 1/.test((e as Error).message),
      );
    } finally {
      head.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('trainHead with a tail feed split into micro-batches', () => {
  /** A one-layer stand-in for a backbone tail: features = x W (x arrives as [n, 1, 1, d]). */
  function fakeTail(d: number) {
    // Inside a tidy: the initial value is freed, the variable (not tracked by tidy) stays.
    const w = tf.tidy(() => tf.variable(tf.randomNormal([d, d], 0, 0.3, 'float32', 4), true));
    const tail = {
      variables: [w],
      kernelIdx: new Set([0]),
      apply: (x: tf.Tensor4D) => tf.matMul(tf.reshape(x, [x.shape[0], d]), w) as tf.Tensor2D,
      snapshot: () => [tf.keep(w.clone())],
      restore: (ws: tf.Tensor[]) => w.assign(ws[0]!),
    };
    return tail as unknown as import('../model/tail.js').Tail;
  }

  async function run(microBatch: number | undefined) {
    const data = overlapping(5, 40, 20);
    const n = data.labels.length;
    const tail = fakeTail(data.d);
    const head = Head.create({ inputSize: data.d, numClasses: 2, hiddenUnits: 0 }, tf.tidy(() => featureStats(data.x.gather(Array.from({ length: n }, (_, i) => i)))), 1);
    const feed = {
      tail,
      lrRatio: 0.5,
      ...(microBatch ? { microBatch } : {}),
      batch: async (rows: number[]) => tf.tidy(() => tf.reshape(data.x.gather(rows), [rows.length, 1, 1, data.d]) as tf.Tensor4D),
    };
    const all = Array.from({ length: n }, (_, i) => i);
    // Unequal class weights: each micro-batch must divide by the whole batch's weight.
    const cfg = { ...TRAIN_DEFAULTS, epochs: 3, batchSize: 16, augment: 0, unfreezeBlocks: 0 } as never;
    const res = await trainHead(head, { x: data.x, labels: data.labels, views: all.map((i) => [i]), trainIdx: all, valIdx: [], numClasses: 2, classWeights: Float32Array.of(0.7, 2) }, cfg, {}, feed);
    const weights = [...head.variables, ...tail.variables].map((v) => Array.from(v.dataSync()));
    head.dispose();
    tf.dispose(tail.variables);
    return { weights, losses: res.history.map((h) => h.loss), peak: res.peakBytes };
  }

  it('takes the same steps as whole batches (gradients summed over micro-batches of 3, 16, 16, 16, 12 rows)', async () => {
    const before = tf.memory().numTensors;
    const whole = await run(undefined);
    const split = await run(3);
    split.losses.forEach((l, i) => assert.ok(Math.abs(l - whole.losses[i]!) < 1e-5, `epoch ${i + 1} loss ${l} vs ${whole.losses[i]}`));
    const maxDiff = Math.max(...whole.weights.flatMap((w, i) => w.map((v, j) => Math.abs(v - split.weights[i]![j]!))));
    assert.ok(maxDiff < 1e-5, `weights differ by ${maxDiff}`);
    assert.ok(split.peak > 0 && whole.peak > 0);
    assert.equal(tf.memory().numTensors, before);
  });
});
