// Open-set prototypes and thresholds against a float64 reference written from
// their definition (normalized class means; per class mean - 4 std of calibration
// similarities, leave-one-out for training examples), and a model's lifetime:
// freed once retired and no call uses it.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRng } from '../util/random.js';
import { OpenSet, PROTOTYPE_TEMPERATURE, REJECT_SIGMAS } from './open-set.js';
import { PrototypeModel } from './trained-model.js';

const norm = (v: number[]) => {
  const n = Math.hypot(...v) + 1e-12;
  return v.map((x) => x / n);
};
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

/** The definition, in float64. */
function reference(x: number[][], labels: number[], trainIdx: number[], valIdx: number[], k: number) {
  const xn = x.map(norm);
  const sums = Array.from({ length: k }, () => new Array<number>(x[0]!.length).fill(0));
  for (const i of trainIdx) xn[i]!.forEach((v, d) => (sums[labels[i]!]![d]! += v));
  const prototypes = sums.map(norm);
  const calib = valIdx.length >= 10 ? valIdx : [...trainIdx, ...valIdx];
  const inTrain = new Set(trainIdx);
  const sims = calib.map((i) => {
    const c = labels[i]!;
    // Leave-one-out: a training example against its class prototype without it.
    const proto = inTrain.has(i) ? norm(sums[c]!.map((v, d) => v - xn[i]![d]!)) : prototypes[c]!;
    return dot(xn[i]!, proto);
  });
  const threshold = (v: number[]) => {
    if (v.length < 2) return -1;
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    return m - REJECT_SIGMAS * Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
  };
  const thresholds = Array.from({ length: k }, (_, c) => {
    const own = sims.filter((_, j) => labels[calib[j]!] === c);
    return threshold(own.length >= 3 ? own : sims);
  });
  return { prototypes, thresholds, calibratedOn: calib.length };
}

function clusters(n: number, k: number, d: number, seed: number) {
  const rng = createRng(seed);
  const centers = Array.from({ length: k }, () => Array.from({ length: d }, () => rng() * 2 - 1));
  const labels = Array.from({ length: n }, (_, i) => i % k);
  const x = labels.map((c) => centers[c]!.map((m) => m + (rng() - 0.5) * 0.8));
  return { x, labels };
}

async function fitted(x: number[][], labels: number[], trainIdx: number[], valIdx: number[], k: number) {
  const t = tf.tensor2d(x);
  const views = x.map((_, i) => [i]);
  const requested: number[][] = [];
  const os = await OpenSet.fit(k, Int32Array.from(labels), trainIdx, valIdx, async (rows) => (requested.push(rows), tf.gather(t, rows) as tf.Tensor2D), views);
  t.dispose();
  return { os, requested };
}

describe('OpenSet', () => {
  before(() => tf.setBackend('cpu'));

  for (const [what, n, val] of [
    ['validation of 12: thresholds from validation similarities', 36, 12],
    ['validation of 4: every example, training ones left out of their prototype', 24, 4],
  ] as const) {
    it(what, async () => {
      const { x, labels } = clusters(n, 3, 6, n);
      const valIdx = Array.from({ length: val }, (_, i) => i);
      const trainIdx = Array.from({ length: n - val }, (_, i) => i + val);
      const want = reference(x, labels, trainIdx, valIdx, 3);
      const before = tf.memory().numTensors;
      const { os, requested } = await fitted(x, labels, trainIdx, valIdx, 3);
      try {
        assert.equal(tf.memory().numTensors, before + 1, 'only the prototypes are kept');
        assert.deepEqual(requested, [[...trainIdx, ...valIdx]]);
        assert.equal(os.calibratedOn, want.calibratedOn);
        const got = os.prototypes.arraySync();
        got.forEach((row, c) => row.forEach((v, d) => assert.ok(Math.abs(v - want.prototypes[c]![d]!) < 1e-5, `prototype ${c}`)));
        os.thresholds.forEach((t, c) => assert.ok(Math.abs(t - want.thresholds[c]!) < 1e-4, `threshold ${c}: ${t} vs ${want.thresholds[c]}`));
        const sims = tf.tidy(() => os.similarities(tf.tensor2d([x[0]!.map((v) => v * 3)])).arraySync()[0]!);
        sims.forEach((s, c) => assert.ok(Math.abs(s - dot(norm(x[0]!), want.prototypes[c]!)) < 1e-5));
      } finally {
        os.dispose();
      }
    });
  }

  it('a class with fewer than 3 calibration similarities uses all of them', async () => {
    const { x, labels } = clusters(12, 3, 5, 9);
    // Class 2 keeps two examples, both training: two leave-one-out similarities.
    const keep = labels.flatMap((c, i) => (c !== 2 || i < 6 ? [i] : []));
    const xs = keep.map((i) => x[i]!);
    const ls = keep.map((i) => labels[i]!);
    const valIdx = [0, 1, 3];
    const trainIdx = ls.flatMap((_, i) => (valIdx.includes(i) ? [] : [i]));
    assert.deepEqual(trainIdx.filter((i) => ls[i] === 2).length, 2);
    const want = reference(xs, ls, trainIdx, valIdx, 3);
    const { os } = await fitted(xs, ls, trainIdx, valIdx, 3);
    os.thresholds.forEach((t, c) => assert.ok(Math.abs(t - want.thresholds[c]!) < 1e-4, `threshold ${c}`));
    os.dispose();
    assert.equal(PROTOTYPE_TEMPERATURE, 10);
  });

  it('fromValues copies the prototypes and thresholds', () => {
    const protos = Float32Array.from([1, 0, 0, 1]);
    const th = [0.5, 0.25];
    const os = OpenSet.fromValues(protos, 2, th, 7);
    protos[0] = 9;
    th[0] = 9;
    assert.deepEqual(os.prototypes.arraySync(), [[1, 0], [0, 1]]);
    assert.deepEqual([os.thresholds, os.calibratedOn], [[0.5, 0.25], 7]);
    os.dispose();
  });
});

describe('a model in use', () => {
  it('is freed when retired, or when the last call using it finishes', async () => {
    const make = () => new PrototypeModel(['a', 'b'], OpenSet.fromValues(Float32Array.from([1, 0, 0, 1]), 2, [0, 0], 2), 1);
    const idle = make();
    idle.retire();
    assert.equal(idle.isFreed, true);
    assert.equal(idle.openSet.prototypes.isDisposed, true);
    const busy = make();
    let release!: () => void;
    const call = busy.use(() => new Promise<string>((r) => (release = () => r('done'))));
    const other = busy.use(async () => 'quick');
    assert.equal(await other, 'quick');
    busy.retire();
    busy.retire();
    assert.equal(busy.isFreed, false, 'a call still uses it');
    release();
    assert.equal(await call, 'done');
    assert.equal(busy.isFreed, true);
    assert.equal(busy.openSet.prototypes.isDisposed, true);
    const failing = make();
    await assert.rejects(failing.use(async () => Promise.reject(new Error('boom'))), /boom/);
    failing.retire();
    assert.equal(failing.isFreed, true, 'a failed call releases it too');
  });
});
