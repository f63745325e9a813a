import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { metrics } from './metrics.js';

describe('metrics', () => {
  it('computes accuracy, per-class precision/recall and the confusion matrix', () => {
    const r = metrics(['a', 'b', 'c'], [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]);
    assert.equal(r.accuracy, 4 / 6);
    assert.deepEqual(r.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 1]]);
    assert.equal(r.perClass[1]!.precision, 2 / 3);
    assert.equal(r.perClass[1]!.recall, 1);
    assert.equal(r.perClass[2]!.precision, 1);
    assert.equal(r.perClass[2]!.recall, 0.5);
    assert.equal(r.perClass[0]!.support, 2);
  });
});
