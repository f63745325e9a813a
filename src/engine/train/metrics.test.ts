import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectedCalibrationError, metrics } from './metrics.js';

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
    assert.deepEqual(r.labels, ['a', 'b', 'c']);
    assert.equal(r.n, 6);
    // F1 is the harmonic mean: class c has precision 1 and recall 1/2.
    assert.equal(r.perClass[2]!.f1, (2 * 1 * 0.5) / 1.5);
    assert.equal(r.perClass[1]!.f1, (2 * (2 / 3) * 1) / (2 / 3 + 1));
    const none = metrics(['a', 'b'], [0, 0], [0, 0]);
    assert.deepEqual(none.perClass[1], { label: 'b', precision: 0, recall: 0, f1: 0, support: 0 });
    assert.equal(metrics(['a', 'b'], [], []).accuracy, 0);
  });
});

describe('expectedCalibrationError', () => {
  it('is |accuracy - confidence| per bin, weighted by the bin\'s share of samples', () => {
    // One bin: confidence 0.9, accuracy 3/4.
    assert.ok(Math.abs(expectedCalibrationError([0.9, 0.9, 0.9, 0.9], [true, true, true, false]) - 0.15) < 1e-12);
    // Two bins of two: (0.2, acc 0) and (0.95, acc 1): 0.5 * 0.2 + 0.5 * 0.05.
    assert.ok(Math.abs(expectedCalibrationError([0.2, 0.2, 0.95, 0.95], [false, false, true, true]) - 0.125) < 1e-12);
    // Over- and under-confidence in different bins do not cancel.
    assert.ok(Math.abs(expectedCalibrationError([0.6, 0.6, 0.99, 0.99], [true, true, false, false]) - (0.5 * 0.4 + 0.5 * 0.99)) < 1e-12);
  });

  it('is 0 when confidence matches accuracy in every bin, and for no samples', () => {
    assert.equal(expectedCalibrationError([1, 1, 1], [true, true, true]), 0);
    assert.ok(Math.abs(expectedCalibrationError([0.5, 0.5], [true, false])) < 1e-12);
    assert.equal(expectedCalibrationError([], []), 0);
  });

  it('puts confidence 1 in the last bin and honours the bin count', () => {
    // With 2 bins, 0.4 and 0.6 fall apart: |0 - 0.4| / 2 + |1 - 0.6| / 2.
    assert.ok(Math.abs(expectedCalibrationError([0.4, 0.6], [false, true], 2) - 0.4) < 1e-12);
    // A wrong answer at confidence 1 counts in full, in the last bin.
    assert.equal(expectedCalibrationError([1], [false], 4), 1);
    // With 1 bin they share it: |0.5 - 0.5|.
    assert.ok(Math.abs(expectedCalibrationError([0.4, 0.6], [false, true], 1)) < 1e-12);
  });
});
