// inspect() on generated data whose defects are known: a flipped label, an
// exact copy and a resized copy across splits, a blank frame, and a pool whose
// most useful images are known. Then the pieces against hand-worked examples.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { createEngine, type Engine } from '../engine.js';
import { isEdgetuneError } from '../../errors.js';
import { syntheticImage, SYNTHETIC_CLASSES } from '../../testing/synthetic.js';
import type { RawImage } from '../../types.js';
import { confidentJoint, findLabelIssues } from './label-issues.js';
import { exactGroups, nearGroups } from './duplicates.js';
import { stratifiedFolds } from './oof.js';

/** Nearest-neighbour downscale of an RGB image to w x h (a different file of the same picture). */
function resized(img: RawImage, w: number, h: number): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = img.data[((Math.floor((y * img.height) / h) * img.width + Math.floor((x * img.width) / w)) * 3 + c)]!;
  return { data, width: w, height: h, channels: 3 };
}

const blank = (): RawImage => ({ data: new Uint8Array(96 * 96 * 3), width: 96, height: 96, channels: 3 });

describe('inspect on generated data with known defects', () => {
  let engine: Engine;
  const classes = SYNTHETIC_CLASSES.slice(0, 3);
  const flipped = syntheticImage('stripes', 501);
  const leaked = syntheticImage('disc', 502);

  before(async () => {
    engine = await createEngine({ backends: ['wasm', 'cpu'], backbone: 'mobilenet_v2' });
    for (const [k, cls] of classes.entries()) {
      await engine.addExamples(cls, Array.from({ length: 12 }, (_, i) => syntheticImage(cls, 100 * k + i)));
    }
    // A stripes picture filed under 'checker'.
    await engine.addExamples('checker', [flipped]);
    // The same disc in train twice (exact copy), and resized into the validation split.
    await engine.addExamples('disc', [leaked, leaked]);
    await engine.addExamples('disc', [resized(leaked, 77, 61)], { split: 'val' });
    // A black camera frame.
    await engine.addExamples('stripes', [blank()]);
  });
  after(() => engine.dispose());

  it('finds the flipped label, both copies, the leak across splits and the blank frame', async () => {
    const r = await engine.inspect({ seed: 1 });
    assert.equal(r.n, 12 * 3 + 5);
    const flippedIssue = r.labelIssues.find((x) => x.item.index === 36);
    assert.ok(flippedIssue, `the stripes image labelled checker is flagged (flags: ${r.labelIssues.map((x) => x.item.index)})`);
    assert.equal(flippedIssue.suggested, 'stripes');
    assert.equal(flippedIssue.item.label, 'checker');
    assert.ok(r.labelIssues.length <= 4, `few false flags on clean classes: ${r.labelIssues.length}`);

    const exact = r.duplicates.find((g) => g.kind === 'exact');
    assert.deepEqual(exact?.items.map((i) => i.index), [37, 38]);
    const near = r.duplicates.filter((g) => g.kind === 'near' && g.items.some((i) => i.index === 39));
    assert.equal(near.length, 1, 'the resized copy is a near duplicate of the original');
    assert.ok(near[0]!.crossSplit && !near[0]!.conflictingLabels);
    assert.ok(near[0]!.items.some((i) => i.index === 37 || i.index === 38));

    assert.equal(r.outliers[0]?.item.index, 40, `the blank frame is the first outlier: ${JSON.stringify(r.outliers.slice(0, 3))}`);
    assert.equal(r.classes.length, 3);
    assert.ok(r.oofAccuracy > 0.8);
    // Other near groups are generated patterns that repeat (a stripes period recurs every 7 seeds): same class, same split.
    for (const g of r.duplicates.filter((g) => g.kind === 'near' && !g.items.some((i) => i.index === 39))) assert.ok(!g.conflictingLabels && !g.crossSplit, JSON.stringify(g));
  });

  it('ranks a pool: an image unlike the labelled ones comes before copies of what is known, and runs no backbone pass twice', async () => {
    const known = syntheticImage('disc', 3);
    const between = syntheticImage('triangle', 7);
    const pool = [known, known, between];
    const r = await engine.inspect({ pool, seed: 1 });
    assert.equal(r.labelNext?.length, 3);
    assert.equal(r.labelNext![0]!.item.index, 2, `the unfamiliar triangle first: ${JSON.stringify(r.labelNext)}`);
    const stats = await engine.stats();
    const again = await engine.inspect({ seed: 1 });
    assert.equal((await engine.stats()).cache.misses, stats.cache.misses, 'a second inspect reads every embedding from the cache');
    assert.deepEqual(again.labelIssues.map((x) => x.item.index), r.labelIssues.map((x) => x.item.index), 'the same seed, the same flags');
  });

  it('refuses bad options and leaks no tensor', async () => {
    const before = tf.memory().numTensors;
    await engine.inspect({ seed: 2 });
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(engine.inspect({ folds: 1 }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT'));
    await assert.rejects(engine.inspect({ nearDuplicateThreshold: 1.5 }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT'));
    const one = await createEngine({ backends: ['wasm', 'cpu'], backbone: 'mobilenet_v2' });
    try {
      await one.addExamples('only', [syntheticImage('disc', 1), syntheticImage('disc', 2)]);
      await assert.rejects(one.inspect(), (e) => isEdgetuneError(e, 'TOO_FEW_CLASSES'));
    } finally {
      await one.dispose();
    }
  });

  // Last: it edits the examples the tests above inspect.
  it('acting on the flags: relabel and remove by id, all or nothing; ids survive other edits; names name the items', async () => {
    const r = await engine.inspect({ seed: 1 });
    const flippedIssue = r.labelIssues.find((x) => x.item.index === 36)!;
    const blankOutlier = r.outliers.find((x) => x.item.index === 40)!;
    const copy = r.duplicates.find((g) => g.kind === 'exact')!.items[1]!;
    for (const it of [flippedIssue.item, blankOutlier.item, copy]) assert.equal(typeof it.id, 'number', JSON.stringify(it));
    const countsBefore = engine.counts();

    // A stale id (or a made-up one) changes nothing, even beside valid ones.
    await assert.rejects(engine.removeExamples([blankOutlier.item.id!, 10_000]), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT') && /10000/.test((e as Error).message));
    await assert.rejects(engine.relabelExamples([1.5], 'disc'), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT'));
    await assert.rejects(engine.relabelExamples([flippedIssue.item.id!], ''), (e) => isEdgetuneError(e, 'INVALID_LABEL'));
    assert.deepEqual(engine.counts(), countsBefore);

    assert.equal(await engine.relabelExamples([flippedIssue.item.id!], flippedIssue.suggested), 1);
    assert.equal(await engine.removeExamples([blankOutlier.item.id!, copy.id!]), 2);
    assert.equal(engine.counts().checker!.train + engine.counts().checker!.val, countsBefore.checker!.train + countsBefore.checker!.val - 1);
    assert.equal(engine.exampleList.length, 12 * 3 + 5 - 2);
    // Removed ids are gone for good: a second removal is refused.
    await assert.rejects(engine.removeExamples([copy.id!]), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT'));

    await engine.addExamples('disc', [syntheticImage('disc', 900)], { names: ['my-disc.png'] });
    await assert.rejects(engine.addExamples('disc', [syntheticImage('disc', 901)], { names: ['a', 'b'] }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT'));
    const after = await engine.inspect({ seed: 1 });
    assert.ok(!after.labelIssues.some((x) => x.item.id === flippedIssue.item.id), 'the relabelled image is no longer flagged');
    assert.ok(!after.outliers.some((x) => x.item.id === blankOutlier.item.id), 'the removed frame is gone');
    assert.ok(!after.duplicates.some((g) => g.kind === 'exact'), 'one copy left: no exact duplicate');
    // Ids name the same images after the edits (the indices moved).
    const ids = new Map(engine.exampleList.map((e, i) => [e.id, i]));
    for (const it of [...after.labelIssues.map((x) => x.item), ...after.outliers.map((x) => x.item), ...after.duplicates.flatMap((g) => g.items)]) assert.equal(ids.get(it.id), it.index);
    assert.equal(engine.exampleList.at(-1)!.source.name, 'my-disc.png');
  });
});

describe('inspect pieces', () => {
  it('confident learning flags the example whose out-of-fold probabilities point elsewhere, and calibrates the joint', () => {
    // 3 classes, 4 examples each; example 3 (labelled 0) looks like class 1.
    const labels = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    const rows = [
      [0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.85, 0.1, 0.05], [0.1, 0.85, 0.05],
      [0.1, 0.8, 0.1], [0.05, 0.9, 0.05], [0.1, 0.85, 0.05], [0.15, 0.8, 0.05],
      [0.05, 0.05, 0.9], [0.1, 0.1, 0.8], [0.05, 0.1, 0.85], [0.1, 0.05, 0.85],
    ];
    const p = Float32Array.from(rows.flat());
    const joint = confidentJoint(p, labels, 3);
    joint.forEach((row, i) => assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 4) < 1e-9, `row ${i} sums to the class size`));
    assert.ok(joint[0]![1]! >= 0.5, 'one of class 0 confidently belongs to class 1');
    const issues = findLabelIssues(p, labels, 3);
    assert.deepEqual(issues.map((x) => [x.index, x.suggested]), [[3, 1]]);
    assert.ok(Math.abs(issues[0]!.score - 0.75) < 1e-6);
  });

  it('groups duplicates: exact by hash, near by connected similar pairs, exact-only pairs left to the exact groups', () => {
    assert.deepEqual(exactGroups(['a', 'b', 'a', 'c', 'b']).map((g) => g.members), [[0, 2], [1, 4]]);
    const near = nearGroups(5, [[0, 1, 0.95], [1, 3, 0.93], [2, 4, 0.99]], ['h0', 'h1', 'x', 'h3', 'x']);
    assert.deepEqual(near.map((g) => [g.members, g.similarity]), [[[0, 1, 3], 0.93]]);
  });

  it('folds are stratified and cover every item once', () => {
    const labels = Int32Array.from({ length: 23 }, (_, i) => i % 3);
    const folds = stratifiedFolds(labels, 5, 7);
    assert.deepEqual(folds.flat().sort((a, b) => a - b), [...labels.keys()]);
    for (const f of folds) for (let c = 0; c < 3; c++) assert.ok(f.filter((i) => labels[i] === c).length >= 1);
  });
});
