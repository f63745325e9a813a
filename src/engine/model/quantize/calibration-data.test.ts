// The images an int8 export calibrates on: the training examples only, taken in
// turn from each class up to the count asked for, decoded in batches of at most
// 8 with undecodable ones skipped, and typed errors when nothing is left.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { isEdgetuneError } from '../../../errors.js';
import type { RawImage } from '../../../types.js';
import type { Example, Split } from '../../data/examples.js';
import type { BackboneManifest } from '../manifest.js';
import { calibrationBatches, calibrationSet } from './calibration-data.js';

/** An example named `label` + `i` whose image is 8x8 of value `i` (or fails to decode). */
const example = (label: string, i: number, opts: { split?: Split; broken?: boolean } = {}): Example => ({
  label,
  ...(opts.split ? { split: opts.split } : {}),
  source: {
    hash: `${label}${i}`,
    name: `${label}${i}`,
    load: async (): Promise<RawImage> => {
      if (opts.broken) throw new Error('not an image');
      return { width: 8, height: 8, channels: 3, data: new Uint8Array(8 * 8 * 3).fill(i) };
    },
  },
});
const names = (xs: Example[]) => xs.map((e) => e.source.name);
const MANIFEST = { inputSize: [4, 4], normalization: { mean: [0, 0, 0], std: [1, 1, 1] } } as unknown as BackboneManifest;

async function collect(examples: Example[], n: number) {
  const out: number[][] = [];
  for await (const batch of calibrationBatches(examples, MANIFEST, n)) {
    assert.deepEqual(batch.shape.slice(1), [4, 4, 3]);
    // Each image is one value: its first pixel says which one it is.
    out.push(Array.from({ length: batch.shape[0] }, (_, k) => Math.round(batch.dataSync()[k * 48]! * 255)));
    batch.dispose();
  }
  return out;
}

describe('calibrationSet', () => {
  it('takes the classes in turn, in their order of appearance, skipping validation examples, up to n', () => {
    const xs = [example('a', 1), example('b', 1), example('a', 2), example('a', 3, { split: 'val' }), example('a', 4), example('c', 1), example('b', 2, { split: 'train' })];
    assert.deepEqual(names(calibrationSet(xs, 100)), ['a1', 'b1', 'c1', 'a2', 'b2', 'a4']);
    assert.deepEqual(names(calibrationSet(xs, 4)), ['a1', 'b1', 'c1', 'a2']);
    assert.deepEqual(names(calibrationSet(xs, 3)), ['a1', 'b1', 'c1']);
    assert.deepEqual(names(calibrationSet(xs, 0)), []);
    assert.deepEqual(names(calibrationSet([example('a', 1, { split: 'val' })], 5)), []);
  });
});

describe('calibrationBatches', () => {
  it('yields batches of at most 8 in the set order, skipping undecodable images, and leaks no tensor', async () => {
    const xs = Array.from({ length: 19 }, (_, i) => example(i % 2 ? 'odd' : 'even', i + 1, { broken: i === 2 || i === 9 }));
    const before = tf.memory().numTensors;
    const batches = await collect(xs, 18);
    assert.equal(tf.memory().numTensors, before);
    const order = names(calibrationSet(xs, 18)).map((n) => Number(n.replace(/\D/g, '')));
    assert.deepEqual(batches.map((b) => b.length), [7, 7, 2], 'batches of 8, the first two each losing a broken image');
    assert.deepEqual(batches.flat(), order.filter((v) => v !== 3 && v !== 10));
  });

  it('goes on past a batch in which nothing decodes', async () => {
    const xs = [...Array.from({ length: 8 }, (_, i) => example('a', i + 1, { broken: true })), example('a', 20)];
    assert.deepEqual(await collect(xs, 9), [[20]]);
  });

  it('refuses an engine without training examples, and a set in which nothing decodes', async () => {
    await assert.rejects(collect([example('a', 1, { split: 'val' })], 8), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT') && /add examples first/.test(e.message));
    await assert.rejects(collect([example('a', 1, { broken: true }), example('b', 2, { broken: true })], 8), (e) => isEdgetuneError(e, 'INVALID_IMAGE') && /None of the calibration images could be decoded/.test(e.message));
  });
});
