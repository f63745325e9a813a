// FeatureRows.gather against tf.gather on the same matrix: the rows asked for, in
// that order (repeats included), as one [ids, dim] tensor and nothing else; and
// standardized on the host to the bits tfjs's ops give.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { FeatureRows } from './feature-rows.js';

describe('FeatureRows', () => {
  before(() => tf.setBackend('cpu'));

  it('gathers the rows asked for, in order, as tf.gather does', () => {
    const dim = 5;
    const data = Float32Array.from({ length: 7 * dim }, (_, i) => Math.sin(i) * 10);
    const rows = new FeatureRows(data, dim);
    assert.equal(rows.count, 7);
    const ids = [6, 0, 3, 3, 1];
    const before = tf.memory().numTensors;
    const got = rows.gather(ids);
    assert.equal(tf.memory().numTensors, before + 1, 'one tensor: the batch');
    const matrix = tf.tensor2d(data, [7, dim]);
    const want = tf.gather(matrix, ids);
    assert.deepEqual(got.shape, [5, dim]);
    assert.deepEqual([...got.dataSync()], [...want.dataSync()]);
    tf.dispose([got, want, matrix]);
  });

  it('standardizes to the same float32 bits as tfjs sub then mul', () => {
    const dim = 64;
    const data = Float32Array.from({ length: 9 * dim }, (_, i) => Math.sin(i * 1.7) * 10 ** ((i % 7) - 3));
    const mean = Float32Array.from({ length: dim }, (_, j) => Math.cos(j) * 3.3);
    const invStd = Float32Array.from({ length: dim }, (_, j) => 1 / (0.1 + (j % 5) * 0.77));
    const ids = [8, 2, 2, 5];
    const got = new FeatureRows(data, dim).gather(ids, { mean, invStd });
    const want = tf.tidy(() => tf.mul(tf.sub(tf.gather(tf.tensor2d(data, [9, dim]), ids), tf.tensor1d(mean)), tf.tensor1d(invStd)));
    assert.deepEqual([...got.dataSync()], [...want.dataSync()]);
    tf.dispose([got, want]);
  });

  it('gives an empty batch for no ids', () => {
    const t = new FeatureRows(new Float32Array(6), 3).gather([]);
    assert.deepEqual(t.shape, [0, 3]);
    t.dispose();
  });
});
