// npm run bench -- --check judges a run by its targets: a miss is named, a measure not taken is not judged.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { missedTargets } from '../bench/lib/targets.mjs';

describe('bench targets', () => {
  const good = { wasmThreadsFloorRatio: 0.51, ratioToFloor: 1.06, naiveOverEdgetune: 20, retrainSpeedup: 14, predictOverForward: 1.04, longTasks: 0, nodeEmbedSpeedup: 6, partialMinutes: 12.7, mainEntryGzipBytes: 3989, node: { fineTune: { 200: { ratioToFloor: 1.05 } }, tensors: { before: 117, after: 117 } } };

  it('passes a run that meets every target', () => {
    assert.deepEqual(missedTargets(good), []);
  });

  it('names each missed target with its value, and treats NaN as a miss', () => {
    const missed = missedTargets({ ...good, ratioToFloor: 1.2, longTasks: 2, nodeEmbedSpeedup: Number.NaN, node: { ...good.node, tensors: { before: 117, after: 120 } } });
    assert.deepEqual(missed.map((m) => m.name), ['Chromium fineTune / floor', 'Chromium main-thread long tasks during fineTune', 'Node embedding, ONNX Runtime / tfjs', 'Node tensors after fineTune+predict cycles - before']);
    assert.equal(missed[0].value, 1.2);
  });

  it('skips measures the run did not take (a Chromium-only run has no Node figures)', () => {
    assert.deepEqual(missedTargets({ ratioToFloor: 1.1 }), []);
  });

  it("judges a quick run's size-independent targets only", () => {
    const quick = { ...good, mode: 'quick', ratioToFloor: 1.2, retrainSpeedup: 3.7, longTasks: 1 };
    assert.deepEqual(missedTargets(quick).map((m) => m.name), ['Chromium main-thread long tasks during fineTune']);
  });
});
