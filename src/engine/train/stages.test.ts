// The fine-tune pipeline's rules, on generated embeddings (no backbone, CPU,
// seconds): the split, augment 'auto', early stopping and the best-epoch
// checkpoint, refit length, warm starts, keeping a tail or not.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { FeatureRows } from '../data/feature-rows.js';
import { isEdgetuneError } from '../../errors.js';
import type { Example, ImageSource } from '../data/examples.js';
import { resolveTrainConfig } from '../config.js';
import { TrainedModel } from '../model/trained-model.js';
import { createRng } from '../util/random.js';
import type { TrainData } from './loop.js';
import { planRun, viewsFor } from './pipeline.js';
import { splitExamples } from './split.js';
import { convergedRate, headStage, keepsTail, trainStages, warmStartable, type StageContext } from './stages.js';

const source = (name: string): ImageSource => ({ hash: name, name, load: () => Promise.reject(new Error('not used')) });
const examples = (perClass: Record<string, number>, val: Record<string, number> = {}): Example[] =>
  Object.entries(perClass).flatMap(([label, n]) =>
    Array.from({ length: n }, (_, i) => ({ label, source: source(`${label}${i}`), ...(i < (val[label] ?? 0) ? { split: 'val' as const } : {}) })),
  );

/** Embeddings of three noisy Gaussian clusters, one row (view) per example. */
function clusters(n: number, dim = 16, noise = 1.2, seed = 3): { data: Omit<TrainData, 'trainIdx' | 'valIdx'>; labels: string[] } {
  const rng = createRng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rng() + 1e-12)) * Math.cos(2 * Math.PI * rng());
  const centers = [0, 1, 2].map(() => Array.from({ length: dim }, gauss));
  const y = Int32Array.from({ length: 3 * n }, (_, i) => i % 3);
  const x = new Float32Array(3 * n * dim);
  y.forEach((c, i) => centers[c]!.forEach((m, d) => (x[i * dim + d] = m + noise * gauss())));
  return {
    data: { x: new FeatureRows(x, dim), labels: y, views: Array.from({ length: 3 * n }, (_, i) => [i]), numClasses: 3, classWeights: new Float32Array(3).fill(1) },
    labels: ['a', 'b', 'c'],
  };
}

const ctxFor = (labels: string[], previous: TrainedModel | null = null): StageContext => ({
  labels,
  previous,
  hooks: {},
});

const valAccuracy = (head: { logits(x: tf.Tensor2D): tf.Tensor2D }, data: TrainData): number =>
  tf.tidy(() => {
    const rows = data.valIdx.map((i) => data.views[i]![0]!);
    const pred = tf.argMax(head.logits(data.x.gather(rows)), 1).dataSync();
    return rows.filter((_, j) => pred[j] === data.labels[data.valIdx[j]!]).length / rows.length;
  });

/** Mean softmax cross-entropy on the validation rows (no smoothing, equal weights): what the loop logs as valLoss. */
const valLoss = (head: { logits(x: tf.Tensor2D): tf.Tensor2D }, data: TrainData): number =>
  tf.tidy(() => {
    const rows = data.valIdx.map((i) => data.views[i]![0]!);
    const y = tf.oneHot(tf.tensor1d(data.valIdx.map((i) => data.labels[i]!), 'int32'), data.numClasses);
    return tf.losses.softmaxCrossEntropy(y, head.logits(data.x.gather(rows))).dataSync()[0]!;
  });

describe('fine-tune rules (generated embeddings, CPU)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('splits stratified and seeded, honours pinned validation, keeps a training example per class', () => {
    const ex = examples({ a: 20, b: 10, c: 2 });
    const cfg = { seed: 7, validationSplit: 0.2 };
    const s1 = splitExamples(ex, ['a', 'b', 'c'], cfg);
    assert.deepEqual(splitExamples(ex, ['a', 'b', 'c'], cfg), s1, 'same seed, same split');
    const valOf = (l: string) => s1.valIdx.filter((i) => ex[i]!.label === l).length;
    assert.deepEqual([valOf('a'), valOf('b'), valOf('c')], [4, 2, 1]);
    // Sizes where rounding, floor and ceiling disagree (1.4 -> 1, 2.6 -> 3).
    const odd = examples({ a: 7, b: 13 });
    const s2 = splitExamples(odd, ['a', 'b'], cfg);
    assert.deepEqual(['a', 'b'].map((l) => s2.valIdx.filter((i) => odd[i]!.label === l).length), [1, 3]);
    assert.notDeepEqual(splitExamples(ex, ['a', 'b', 'c'], { ...cfg, seed: 8 }).valIdx, s1.valIdx);
    const pinned = examples({ a: 5, b: 5 }, { a: 2, b: 1 });
    assert.deepEqual(splitExamples(pinned, ['a', 'b'], cfg).valIdx, [0, 1, 5]);
    assert.throws(() => splitExamples(examples({ a: 3, b: 2 }, { b: 2 }), ['a', 'b'], cfg), (e) => isEdgetuneError(e, 'TOO_FEW_CLASSES') && e.message === "Classes with no training examples (all are marked 'val'): b");
    // Indices come back in example order, whatever the shuffle.
    for (const idx of [s1.trainIdx, s1.valIdx]) assert.deepEqual(idx, [...idx].sort((x, y) => x - y));
    assert.deepEqual([...s1.trainIdx, ...s1.valIdx].sort((x, y) => x - y), ex.map((_, i) => i));
    // No split asked: no validation at all; a split of (almost) everything still leaves each class one training example.
    assert.deepEqual(splitExamples(ex, ['a', 'b', 'c'], { ...cfg, validationSplit: 0 }).valIdx, []);
    const most = splitExamples(ex, ['a', 'b', 'c'], { ...cfg, validationSplit: 0.99 });
    assert.deepEqual(['a', 'b', 'c'].map((l) => most.trainIdx.filter((i) => ex[i]!.label === l).length), [1, 1, 1]);
  });

  it("resolves augment 'auto' from the smallest class, and names missing examples or classes", () => {
    assert.equal(planRun(examples({ a: 60, b: 49 }), {}).cfg.augment, 2);
    assert.equal(planRun(examples({ a: 80, b: 80 }), {}).cfg.augment, 0);
    assert.equal(planRun(examples({ a: 5, b: 5 }), { augment: 3 }).cfg.augment, 3);
    // The boundary: 50 training images in the smallest class is enough, 49 is not.
    assert.equal(planRun(examples({ a: 50, b: 60 }), { validationSplit: 0 }).cfg.augment, 0);
    assert.equal(planRun(examples({ a: 49, b: 60 }), { validationSplit: 0 }).cfg.augment, 2);
    assert.equal(planRun(examples({ a: 5, b: 5 }), { augment: 0 }).cfg.augment, 0);
    assert.throws(() => planRun([], {}), (e) => isEdgetuneError(e, 'NO_EXAMPLES') && e.message === 'No examples: call addExamples(label, images) for at least two classes');
    assert.throws(() => planRun(examples({ a: 4 }), {}), (e) => isEdgetuneError(e, 'TOO_FEW_CLASSES') && e.message === "Need examples of at least two classes, have only 'a'");
    const plan = planRun(examples({ a: 10, b: 10 }), { augment: 2, refit: false });
    const views = viewsFor(plan);
    for (const i of plan.trainIdx) assert.deepEqual(views[i], [0, 1, 2]);
    for (const i of plan.valIdx) assert.deepEqual(views[i], [0], 'without refit, validation needs only the plain view');
  });

  it('stops after `patience` epochs without improvement and keeps the best epoch\'s head', async () => {
    const { data: d, labels } = clusters(40);
    const data: TrainData = { ...d, trainIdx: [...Array(90).keys()], valIdx: [...Array(30).keys()].map((i) => 90 + i) };
    const cfg = { ...resolveTrainConfig({ epochs: 300, patience: 4, learningRate: 3e-2, seed: 1 }), augment: 0 };
    const { head, result } = await headStage(ctxFor(labels), data, cfg, 'select');
    try {
      assert.ok(result.stoppedEarly, 'stopped early');
      assert.equal(result.history.length, result.bestEpoch + cfg.patience);
      const best = result.history[result.bestEpoch - 1]!;
      assert.equal(best.valAccuracy, result.bestValAccuracy);
      assert.equal(valAccuracy(head, data), result.bestValAccuracy, 'the returned head is the best epoch\'s');
      // Accuracy plateaus across epochs here; the validation loss tells the epochs apart.
      const losses = result.history.map((h) => h.valLoss!);
      assert.ok(new Set(losses.map((l) => l.toFixed(6))).size > 1, 'the epochs differ in validation loss');
      assert.ok(Math.abs(valLoss(head, data) - best.valLoss!) < 1e-5, `returned head's loss ${valLoss(head, data)}, best epoch's ${best.valLoss}, last epoch's ${losses.at(-1)}`);
    } finally {
      head.dispose();
    }
  });

  it('refits on train + val for exactly the selected number of epochs; without validation, no refit', async () => {
    const { data: d, labels } = clusters(30, 16, 1.5, 5);
    const data: TrainData = { ...d, trainIdx: [...Array(72).keys()], valIdx: [...Array(18).keys()].map((i) => 72 + i) };
    const cfg = { ...resolveTrainConfig({ epochs: 40, patience: 5, seed: 2 }), augment: 0 };
    const r = await trainStages(ctxFor(labels), data, cfg, null);
    assert.equal(r.refitHistory!.length, r.select.bestEpoch);
    assert.ok(r.refitHistory!.every((h) => h.valAccuracy === undefined), 'refit has no validation set');
    assert.equal(r.tail, null);
    r.head.dispose();
    const noVal = await trainStages(ctxFor(labels), { ...data, valIdx: [] }, cfg, null);
    assert.equal(noVal.refitHistory, null);
    assert.equal(noVal.select.history.length, cfg.epochs, 'no validation: every epoch runs');
    noVal.head.dispose();
    const noRefit = await trainStages(ctxFor(labels), data, { ...cfg, refit: false }, null);
    assert.equal(noRefit.refitHistory, null);
    noRefit.head.dispose();
  });

  it('warm-starts only from a head-only model of the same shape that shares a class', async () => {
    const { data: d, labels } = clusters(10);
    const data: TrainData = { ...d, trainIdx: [...Array(30).keys()], valIdx: [] };
    const cfg = { ...resolveTrainConfig({ epochs: 3 }), augment: 0 };
    const { head } = await headStage(ctxFor(labels), data, cfg, 'select');
    const prev = new TrainedModel(head, null, labels, null);
    assert.equal(warmStartable(prev, ['a', 'z'], cfg), true);
    assert.equal(warmStartable(prev, ['y', 'z'], cfg), false, 'no shared class');
    assert.equal(warmStartable(prev, labels, { ...cfg, hiddenUnits: 8 }), false, 'another shape');
    assert.equal(warmStartable(prev, labels, { ...cfg, warmStart: false }), false);
    assert.equal(warmStartable(new TrainedModel(head, {} as never, labels, null), labels, cfg), false, 'a fine-tuned tail');
    assert.equal(warmStartable(null, labels, cfg), false);
    prev.retire();
  });

  it('a warm start keeps the shared classes\' columns and imprints a new class from its training mean', async () => {
    const { data: d } = clusters(10);
    const cfg = { ...resolveTrainConfig({ epochs: 3 }), augment: 0 };
    // The first model knows a and b (rows of class c left out).
    const ab = [...Array(30).keys()].filter((i) => d.labels[i] !== 2);
    const first = await headStage(ctxFor(['a', 'b']), { ...d, numClasses: 2, trainIdx: ab, valIdx: [] }, cfg, 'select');
    const prev = new TrainedModel(first.head, null, ['a', 'b'], null);
    // A step with a negligible rate: the new head is its warm start.
    const tiny = { ...cfg, epochs: 1, learningRate: 1e-12 };
    const trainIdx = [...Array(30).keys()].filter((i) => i % 5 !== 0);
    const { head } = await headStage(ctxFor(['a', 'b', 'c'], prev), { ...d, trainIdx, valIdx: [] }, tiny, 'select');
    try {
      const k = head.kernels[0]!.arraySync() as number[][];
      const old = first.head.kernels[0]!.arraySync() as number[][];
      const col = (m: number[][], j: number) => m.map((r) => r[j]!);
      const near = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]!) < 1e-6);
      assert.ok(near(col(k, 0), col(old, 0)) && near(col(k, 1), col(old, 1)), 'a and b keep their columns');
      // c's column points along its standardized training mean (rows of c in trainIdx only).
      const rows = trainIdx.filter((i) => d.labels[i] === 2);
      const mean = Array.from({ length: d.x.dim }, (_, j) => rows.reduce((s, i) => s + d.x.gather([i]).dataSync()[j]!, 0) / rows.length);
      const { mean: mu, invStd } = await first.head.standardization();
      const z = mean.map((v, j) => (v - mu[j]!) * invStd[j]!);
      const c = col(k, 2);
      const cos = c.reduce((s, v, j) => s + v * z[j]!, 0) / (Math.hypot(...c) * Math.hypot(...z));
      assert.ok(cos > 0.999, `cosine ${cos}`);
    } finally {
      head.dispose();
      prev.retire();
    }
  });

  it('keeps a tail only when it beat the head alone on validation; the head continues at its converged rate', () => {
    assert.equal(keepsTail(0, 12), false, 'best epoch 0 is the head-only start');
    assert.equal(keepsTail(3, 12), true);
    assert.equal(keepsTail(0, 0), true, 'without validation there is nothing to beat');
    const cfg = resolveTrainConfig({ learningRate: 1e-3, lrGamma: 0.5, lrStepEpochs: 10 });
    assert.equal(convergedRate(cfg, 0), 1e-3);
    assert.equal(convergedRate(cfg, 10), 1e-3);
    assert.equal(convergedRate(cfg, 11), 5e-4);
    assert.equal(convergedRate(cfg, 25), 2.5e-4);
  });
});
