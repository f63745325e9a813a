// What the training loop hands its optimizer, observed at AdamW.apply on the tiny
// backbone: StepLR per head epoch, warm-up then cosine per tail step, one step per
// batch, weight decay on kernels only (head and tail), the tail's learning-rate
// ratio; and the epoch logs' loss, accuracy and time as averages of the epoch.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { FineTuneOptions } from '../../types.js';
import { pixelSource } from '../data/examples.js';
import type { Engine } from '../engine.js';
import { Tail } from '../model/tail.js';
import { syntheticImage, type SyntheticClass } from '../../testing/synthetic.js';
import { tinyEngine } from '../../testing/tiny-backbone.js';
import { AdamW } from './optimizer.js';

const CLASSES: SyntheticClass[] = ['disc', 'stripes', 'checker'];

interface Step {
  lr: number;
  vars: number;
  decayed: number[];
  lrScale: number[];
}

describe('Learning rates and optimizer groups (tiny backbone)', () => {
  let engine: Engine;
  let steps: Step[];
  const apply = AdamW.prototype.apply;
  before(async () => {
    engine = await tinyEngine();
    for (const label of CLASSES) await engine.addExamples(label, await Promise.all(Array.from({ length: 8 }, (_, i) => pixelSource(syntheticImage(label, 200 + i, 40), `${label}${i}`))));
  });
  after(() => engine.dispose());
  beforeEach(() => {
    steps = [];
    AdamW.prototype.apply = function (this: AdamW, grads, lr) {
      const self = this as unknown as { vars: unknown[]; decayed: Set<number>; lrScale: number[] };
      steps.push({ lr, vars: self.vars.length, decayed: [...self.decayed].sort((a, b) => a - b), lrScale: [...self.lrScale] });
      return apply.call(this, grads, lr);
    };
  });
  afterEach(() => {
    AdamW.prototype.apply = apply;
  });

  it('head: StepLR per epoch, one step per batch; the logs average the epoch', async () => {
    const t0 = performance.now();
    const opts: FineTuneOptions = { epochs: 7, lrStepEpochs: 3, lrGamma: 0.5, learningRate: 0.01, batchSize: 8, augment: 1, validationSplit: 0.25, refit: false, patience: 100, seed: 4, hiddenUnits: 6 };
    const r = await engine.fineTune(opts);
    const wall = performance.now() - t0;
    // 18 training images in batches of 8: 3 steps an epoch.
    const want = [1, 2, 3, 4, 5, 6, 7].flatMap((e) => Array(3).fill(0.01 * 0.5 ** Math.floor((e - 1) / 3)));
    assert.deepEqual(steps.map((s) => s.lr), want);
    assert.deepEqual(r.history.map((h) => h.learningRate), [1, 4, 7].flatMap((e, k) => Array(k < 2 ? 3 : 1).fill(0.01 * 0.5 ** Math.floor((e - 1) / 3))));
    // A hidden layer: the head's variables are its two kernels, then their biases; only the kernels decay.
    assert.deepEqual(steps[0]!.decayed, [0, 1]);
    assert.deepEqual(steps[0]!.lrScale, [1, 1, 1, 1]);
    for (const h of r.history) {
      assert.ok(h.loss > 0 && h.loss < 3, `loss ${h.loss} is a mean over the epoch`);
      assert.ok(h.accuracy >= 0 && h.accuracy <= 1, `accuracy ${h.accuracy}`);
      assert.ok(h.ms >= 0 && h.ms <= wall, `${h.ms} ms within the run's ${wall}`);
    }
    assert.equal(r.stoppedEarly, false);
  });

  it('without validation: no validation scores, the last epoch kept', async () => {
    const r = await engine.fineTune({ epochs: 3, batchSize: 8, augment: 0, validationSplit: 0, seed: 4 });
    assert.equal(r.bestValAccuracy, undefined);
    assert.equal(r.bestEpoch, 3);
    assert.ok(r.history.every((h) => h.valAccuracy === undefined && h.valLoss === undefined));
    assert.equal(steps.length, 9);
  });

  it('tail: one warm-up epoch then cosine decay per step, decay on head and tail kernels, the backbone rate as a ratio', async () => {
    const opts: FineTuneOptions = { strategy: 'partial', epochs: 2, lrStepEpochs: 100, learningRate: 0.01, batchSize: 8, augment: 0, validationSplit: 0, seed: 4, partial: { unfreezeBlocks: 1, epochs: 3, learningRate: 0.002 } };
    const r = await engine.fineTune(opts);
    const tailSteps = steps.filter((s) => s.vars > 2);
    // 24 images in batches of 8: 3 steps an epoch, 3 epochs; the head's rate at its last epoch (StepLR never stepped: 0.01).
    const spe = 3;
    const want = Array.from({ length: 9 }, (_, s) => 0.01 * Math.min(1, (s + 1) / spe) * 0.5 * (1 + Math.cos((Math.PI * s) / (3 * spe))));
    tailSteps.forEach((s, i) => assert.ok(Math.abs(s.lr - want[i]!) < 1e-12, `step ${i}: ${s.lr} vs ${want[i]}`));
    assert.equal(tailSteps.length, 9);
    assert.deepEqual(r.partial!.history.map((h) => h.learningRate), [0, 3, 6].map((s) => want[s]));
    const tail = await Tail.fromBackbone(engine.backbone, 1);
    const tailVars = tail.variables.length;
    const tailKernels = [...tail.kernelIdx];
    tail.dispose();
    assert.equal(tailSteps[0]!.vars, 2 + tailVars);
    assert.deepEqual(tailSteps[0]!.decayed, [0, ...tailKernels.map((k) => 2 + k)]);
    assert.deepEqual(tailSteps[0]!.lrScale, [1, 1, ...Array(tailVars).fill(0.002 / 0.01)]);
  });
});
