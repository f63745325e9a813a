// The fine-tune pipeline end to end on the tiny generated backbone (a 32x32
// MobileNetV2 in miniature: a run takes a fraction of a second): what the report
// says of the run, skipped images, class weights, warm starts, the caches, an
// abort, and that tensors are freed. The strategies' own stages are in
// strategies.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { EdgetuneError, isEdgetuneError } from '../../errors.js';
import type { FineTuneOptions, Progress, TrainingReport } from '../../types.js';
import { pixelSource, type ImageSource } from '../data/examples.js';
import type { Engine } from '../engine.js';
import { syntheticImage, type SyntheticClass } from '../../testing/synthetic.js';
import { tinyEngine } from '../../testing/tiny-backbone.js';
import { balancedClassWeights } from './loop.js';

const CLASSES: SyntheticClass[] = ['disc', 'stripes', 'checker'];
const HEAD = { strategy: 'head', epochs: 5, augment: 1, seed: 3, validationSplit: 0.25, batchSize: 8, patience: 100 } as const;

const sources = (label: SyntheticClass, n: number, from = 0) => Promise.all(Array.from({ length: n }, (_, i) => pixelSource(syntheticImage(label, 300 + from + i, 40), `${label}${from + i}.png`)));
const broken = (name: string): ImageSource => ({
  hash: `broken-${name}`,
  name,
  load: () => Promise.reject(new EdgetuneError('INVALID_IMAGE', `${name}: not an image`)),
});

async function engineWith(perClass: Record<string, number>): Promise<Engine> {
  const engine = await tinyEngine();
  for (const [label, n] of Object.entries(perClass)) await engine.addExamples(label, await sources(label as SyntheticClass, n));
  return engine;
}

const maxVal = (r: TrainingReport) => Math.max(...r.history.map((h) => h.valAccuracy!));

describe('fineTune pipeline (tiny backbone)', () => {
  let engine: Engine;
  before(async () => {
    engine = await engineWith({ disc: 8, stripes: 8, checker: 8 });
  });
  after(() => engine.dispose());

  it('reports the run: labels in first-seen order, the split, views embedded then cached, epochs, refit, open set', async () => {
    const events: Progress[] = [];
    const t0 = performance.now();
    const r = await engine.fineTune({ ...HEAD, onProgress: (p) => events.push(p) });
    const wall = performance.now() - t0;
    assert.deepEqual(r.labels, CLASSES);
    assert.equal(r.strategy, 'head');
    // round(8 * 0.25) = 2 per class held out.
    assert.deepEqual([r.trainCount, r.validationCount], [18, 6]);
    // With refit, validation examples train too: every example gets augment + 1 views.
    assert.deepEqual([r.embeddingsComputed, r.cacheHits], [48, 0]);
    assert.equal(r.epochsRun, r.history.length);
    assert.deepEqual(r.history.map((h) => h.epoch), [1, 2, 3, 4, 5]);
    assert.equal(r.bestValAccuracy, maxVal(r));
    assert.equal(r.refitHistory?.length, r.bestEpoch);
    assert.ok(r.bestEpoch >= 1 && r.bestEpoch <= 5);
    assert.deepEqual(Object.keys(r.openSet!.thresholds), CLASSES);
    assert.equal(r.openSet!.calibratedOn, 24);
    assert.ok(r.embedMs >= 0 && r.trainMs >= 0 && r.embedMs + r.trainMs <= wall, `${r.embedMs} + ${r.trainMs} within ${wall} ms`);
    assert.equal(r.classWeights, null);
    assert.deepEqual(r.skipped, []);
    assert.equal(r.config.augment, 1);
    const embed = events.filter((e) => e.phase === 'embed');
    assert.deepEqual(embed.at(-1), { phase: 'embed', done: 48, total: 48, cacheHits: 0 });
    const stages = events.flatMap((e) => (e.phase === 'train' ? [e.stage] : []));
    assert.deepEqual(stages, [...Array(5).fill('select'), ...Array(r.bestEpoch).fill('refit')]);

    const again = await engine.fineTune(HEAD);
    assert.deepEqual([again.embeddingsComputed, again.cacheHits], [0, 48]);
    assert.equal(again.warmStarted, true);
    const meta = JSON.parse(new TextDecoder().decode((await engine.export())['edgetune.json']));
    assert.deepEqual(meta.training.counts, { disc: { train: 6, val: 2 }, stripes: { train: 6, val: 2 }, checker: { train: 6, val: 2 } });
    assert.equal(meta.training.epochsRun, again.epochsRun);
    assert.equal(meta.training.bestEpoch, again.bestEpoch);
    assert.equal(meta.training.bestValAccuracy, again.bestValAccuracy);
  });

  it("resolves augment 'auto' from the smallest class, and embeds only the plain view of validation images without refit", async () => {
    const r = await engine.fineTune({ ...HEAD, augment: 'auto', refit: false, warmStart: false });
    assert.equal(r.config.augment, 2);
    assert.equal(r.warmStarted, false);
    assert.equal(r.refitHistory, null);
    // 18 training images x 3 views + 6 validation images x 1.
    assert.equal(r.embeddingsComputed + r.cacheHits, 60);
  });

  it('keeps the best validation epoch without refit: the exported model scores its validation accuracy', async () => {
    const r = await engine.fineTune({ ...HEAD, refit: false, warmStart: false, epochs: 8, seed: 9 });
    const meta = JSON.parse(new TextDecoder().decode((await engine.export())['edgetune.json']));
    assert.equal(meta.training.bestEpoch, r.bestEpoch);
    assert.equal(r.bestValAccuracy, r.history[r.bestEpoch - 1]!.valAccuracy);
  });

  it('frees every tensor of a run but the model it keeps', async () => {
    await engine.fineTune(HEAD);
    const before = tf.memory().numTensors;
    for (const strategy of ['head', 'partial', 'full'] as const) {
      await engine.fineTune({ ...HEAD, strategy, partial: { unfreezeBlocks: 2, epochs: 2 }, full: { epochs: 1 } });
      await engine.fineTune(HEAD);
      assert.equal(tf.memory().numTensors, before, strategy);
    }
  });

  it('an abort while training leaves the model in use as it was and frees the run', async () => {
    await engine.fineTune(HEAD);
    const image = syntheticImage('disc', 999, 40);
    const want = await engine.predict(image);
    const before = tf.memory().numTensors;
    for (const strategy of ['head', 'partial'] as const) {
      const ac = new AbortController();
      const opts: FineTuneOptions = { ...HEAD, strategy, partial: { unfreezeBlocks: 1, epochs: 3, schedule: 'select' }, signal: ac.signal };
      // Abort in the last stage each strategy runs: the head's refit, the partial stage.
      const last = strategy === 'head' ? 'refit' : 'partial';
      opts.onProgress = (p) => p.phase === 'train' && p.stage === last && ac.abort();
      await assert.rejects(engine.fineTune(opts), (e) => isEdgetuneError(e, 'ABORTED'));
      assert.deepEqual(await engine.predict(image), want, strategy);
      assert.equal(tf.memory().numTensors, before, strategy);
    }
  });
});

describe('fineTune pipeline: data problems (tiny backbone)', () => {
  it('skips undecodable images with skipInvalid, names them, and trains on the rest', async () => {
    const engine = await engineWith({ disc: 6, stripes: 6 });
    try {
      await engine.addExamples('disc', [broken('bad.jpg')]);
      await assert.rejects(engine.fineTune(HEAD), (e) => isEdgetuneError(e, 'INVALID_IMAGE') && /bad\.jpg/.test(e.message));
      assert.equal(engine.isTrained, false);
      const skips: Progress[] = [];
      const r = await engine.fineTune({ ...HEAD, skipInvalid: true, onProgress: (p) => p.phase === 'skip' && skips.push(p) });
      assert.deepEqual(r.skipped, [{ name: 'bad.jpg', reason: 'bad.jpg: not an image' }]);
      assert.deepEqual(skips, [{ phase: 'skip', name: 'bad.jpg', reason: 'bad.jpg: not an image' }]);
      // 7 disc examples split 5 + 2 (round(1.75)); the broken one is in neither count.
      assert.equal(r.trainCount + r.validationCount, 12);
      const meta = JSON.parse(new TextDecoder().decode((await engine.export())['edgetune.json']));
      assert.equal(meta.training.counts.disc.train + meta.training.counts.disc.val, 6);
    } finally {
      engine.dispose();
    }
  });

  it('refuses a class left without usable training images, naming it', async () => {
    const engine = await engineWith({ disc: 4 });
    try {
      await engine.addExamples('stripes', [broken('s1.png'), broken('s2.png')]);
      await assert.rejects(engine.fineTune({ ...HEAD, skipInvalid: true }), (e) => isEdgetuneError(e, 'TOO_FEW_CLASSES') && /No usable training images for: stripes$/.test(e.message));
    } finally {
      engine.dispose();
    }
  });

  it('balances class weights over the training split when classes differ by more than 2x, and that changes the model', async () => {
    const engine = await engineWith({ disc: 12, stripes: 4, checker: 12 });
    try {
      const image = syntheticImage('stripes', 77, 40);
      const opts = { ...HEAD, warmStart: false, refit: false } as const;
      const balanced = await engine.fineTune(opts);
      const withWeights = await engine.predict(image);
      // 12 -> 9 + 3, 4 -> 3 + 1: counts 9, 3, 9; n / (k * n_c).
      const w = balancedClassWeights([9, 3, 9]);
      assert.deepEqual(balanced.classWeights, { disc: w[0], stripes: w[1], checker: w[2] });
      const off = await engine.fineTune({ ...opts, classBalance: 'off' });
      assert.equal(off.classWeights, null);
      assert.notDeepEqual(await engine.predict(image), withWeights, 'the weights change the trained head');
      const forced = await engine.fineTune({ ...opts, classBalance: 'weights' });
      assert.deepEqual(forced.classWeights, balanced.classWeights);
    } finally {
      engine.dispose();
    }
  });

  it('warm-starts only a head of the same shape that shares a class, never from a model with a tail', async () => {
    const engine = await engineWith({ disc: 6, stripes: 6 });
    try {
      assert.equal((await engine.fineTune(HEAD)).warmStarted, false, 'nothing to start from');
      await engine.addExamples('checker', await sources('checker', 6));
      assert.equal((await engine.fineTune(HEAD)).warmStarted, true, 'a new class added');
      assert.equal((await engine.fineTune({ ...HEAD, hiddenUnits: 16 })).warmStarted, false, 'another head shape');
      assert.equal((await engine.fineTune({ ...HEAD, strategy: 'partial', partial: { unfreezeBlocks: 1, epochs: 2 }, validationSplit: 0 })).warmStarted, false, 'hidden units differ');
      assert.equal((await engine.fineTune(HEAD)).warmStarted, false, 'the previous model has a tail');
    } finally {
      engine.dispose();
    }
  });
});
