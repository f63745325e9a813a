// The partial strategy's training on the real default backbone: the stages and
// the refit, tensor hygiene, and the previous model kept on abort.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { Engine } from '../engine.js';

import { isEdgetuneError } from '../../errors.js';
import { PARTIAL as DEFAULT_DEPTH, partialEngine } from '../../testing/partial-fixture.js';

// The stages, the refit and the abort paths do not depend on the depth (partial.test.ts
// trains the default six blocks): two blocks keep these runs short.
const PARTIAL = { ...DEFAULT_DEPTH, unfreezeBlocks: 2 };
import { syntheticSet } from '../../testing/synthetic.js';


describe('Partial strategy training on the default backbone (generated images)', () => {
  let engine: Engine;
  const test = syntheticSet(3, 3, 51);

  before(async () => {
    engine = await partialEngine();
  });
  after(() => engine.dispose());

  it('trains the tail and the head, and reports the prefix cache', async () => {
    const stages: string[] = [];
    const report = await engine.fineTune({ ...PARTIAL, onProgress: (p) => p.phase === 'train' && stages.push(p.stage!) });
    assert.equal(report.strategy, 'partial');
    assert.ok(report.partial, 'a partial section in the report');
    assert.equal(report.partial.history.length, 2);
    assert.deepEqual(report.partial.prefix, { cached: 36, recomputed: 0, budgetBytes: 256 * 1024 * 1024 });
    assert.ok(stages.includes('select') && stages.includes('partial'));
    const ev = await engine.evaluate(test.map((s) => ({ label: s.label, image: s.image })));
    assert.ok(ev.accuracy >= 0.8, `accuracy ${ev.accuracy}`);
  });

  it("with partialSchedule 'select-refit' refits a kept tail on train + val for the selected partial epochs", async () => {
    const stages: string[] = [];
    const report = await engine.fineTune({ ...PARTIAL, validationSplit: 0.34, partialEpochs: 3, partialSchedule: 'select-refit', onProgress: (p) => p.phase === 'train' && stages.push(p.stage!) });
    const p = report.partial!;
    // Here the tail beats the head-only start on validation (lower loss), so it is kept and refit.
    assert.ok(p.bestEpoch > 0, 'the tail is kept');
    assert.equal(p.refitHistory?.length, p.bestEpoch);
    assert.deepEqual([...new Set(stages)], ['select', 'partial', 'refit', 'partial-refit']);
    assert.equal(report.refitHistory?.length, report.bestEpoch);
    const ev = await engine.evaluate(test.map((s) => ({ label: s.label, image: s.image })));
    assert.ok(ev.accuracy >= 0.8, `accuracy ${ev.accuracy}`);
  });

  it("with partialSchedule 'select' keeps the partial checkpoint and refits nothing", async () => {
    const stages: string[] = [];
    const report = await engine.fineTune({ ...PARTIAL, validationSplit: 0.34, partialEpochs: 3, partialSchedule: 'select', onProgress: (p) => p.phase === 'train' && stages.push(p.stage!) });
    const p = report.partial!;
    assert.ok(p.bestEpoch > 0, 'the tail is kept');
    assert.deepEqual([...new Set(stages)], ['select', 'partial']);
    assert.equal(p.refitHistory, null);
    assert.equal(report.refitHistory, null);
    // The kept epoch is the partial stage's best on validation (accuracy first, then loss), and the model carries its tail.
    const best = p.history[p.bestEpoch - 1]!;
    for (const h of p.history) {
      assert.ok(h.valAccuracy! < best.valAccuracy! || (h.valAccuracy === best.valAccuracy && h.valLoss! >= best.valLoss!), `epoch ${h.epoch} beats the kept epoch ${p.bestEpoch}`);
    }
    assert.equal((await engine.export()).hasOwnProperty('tail.bin'), true);
    const ev = await engine.evaluate(test.map((s) => ({ label: s.label, image: s.image })));
    assert.ok(ev.accuracy >= 0.8, `accuracy ${ev.accuracy}`);
  });

  it("with partialSchedule 'direct' (the default) trains the tail once, on train + val, for partialEpochs", async () => {
    const stages: string[] = [];
    const report = await engine.fineTune({ ...PARTIAL, validationSplit: 0.34, partialEpochs: 3, onProgress: (p) => p.phase === 'train' && stages.push(p.stage!) });
    const p = report.partial!;
    // No partial stage on the training split: the head's refit, then the tail with it on train + val.
    assert.deepEqual([...new Set(stages)], ['select', 'refit', 'partial']);
    assert.equal(p.history.length, 3);
    assert.equal(p.bestEpoch, 3);
    assert.equal(p.refitHistory, null);
    assert.ok(p.history.every((h) => h.valAccuracy === undefined), 'no validation: it is trained on');
    assert.equal(report.refitHistory?.length, report.bestEpoch);
    assert.equal((await engine.export()).hasOwnProperty('tail.bin'), true);
    const ev = await engine.evaluate(test.map((s) => ({ label: s.label, image: s.image })));
    assert.ok(ev.accuracy >= 0.8, `accuracy ${ev.accuracy}`);
  });

  it('does not leak tensors across repeated partial fineTune, predict and export/import', async () => {
    // Tensor hygiene does not depend on the depth: one block keeps the repeated runs short.
    const shallow = { ...PARTIAL, unfreezeBlocks: 1 };
    await engine.fineTune(shallow);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) {
      // With validation data, each schedule takes its own path through the stages.
      await engine.fineTune({ ...shallow, validationSplit: 0.34, partialSchedule: i === 0 ? 'select-refit' : 'direct' });
      await engine.predictBatch([test[0]!.image]);
      await engine.import(await engine.export());
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('keeps the previous model (tail included) when a partial fineTune is aborted, in the partial stage or its refit', async () => {
    await engine.fineTune(PARTIAL);
    const want = await engine.predictBatch([test[2]!.image]);
    const before = tf.memory().numTensors;
    const runs = [
      ['partial', 'select-refit'],
      ['partial-refit', 'select-refit'],
      ['partial', 'direct'],
    ] as const;
    for (const [stage, partialSchedule] of runs) {
      const ac = new AbortController();
      const run = engine.fineTune({
        ...PARTIAL,
        validationSplit: 0.34,
        partialEpochs: 3,
        partialSchedule,
        // Seed 3 keeps the tail (see the refit test), so its refit stage runs.
        seed: stage === 'partial' ? 9 : 3,
        signal: ac.signal,
        onProgress: (p) => p.phase === 'train' && p.stage === stage && ac.abort(),
      });
      await assert.rejects(run, (e) => isEdgetuneError(e, 'ABORTED'), `${stage} (${partialSchedule})`);
      assert.deepEqual(await engine.predictBatch([test[2]!.image]), want, `${stage} (${partialSchedule})`);
      assert.equal(tf.memory().numTensors, before, `no tensors left behind by the abort in ${stage} (${partialSchedule})`);
    }
  });
});
