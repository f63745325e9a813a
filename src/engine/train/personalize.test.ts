// Beyond a plain head: instant prototype answers, warm-started incremental
// classes, open-set rejection, calibration, and the persistent fp16 cache.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createEngine, type Engine } from '../engine.js';
import { TEST_FORWARD } from '../../testing/partial-fixture.js';
import { FileEmbeddingStore } from '../../node/embed-store-fs.js';
import { pixelSource, type ImageSource } from '../data/examples.js';
import { expectedCalibrationError } from './metrics.js';
import { UNKNOWN_LABEL } from '../../constants.js';
import { isEdgetuneError } from '../../errors.js';
import { syntheticImage, type SyntheticClass } from '../../testing/synthetic.js';

const sources = (label: SyntheticClass, n: number, seed: number): Promise<ImageSource[]> =>
  Promise.all(Array.from({ length: n }, (_, i) => pixelSource(syntheticImage(label, seed + i), `${label}${seed + i}`)));

describe('Personalization features on the default backbone (generated images)', () => {
  let engine: Engine;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetune-cache-'));
    engine = await createEngine({ backends: ['wasm', 'cpu'], forward: TEST_FORWARD, embeddingStore: new FileEmbeddingStore(dir) });
  });
  after(async () => {
    engine.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers from class prototypes before any training, flagged as such', async () => {
    await engine.addExamples('disc', await sources('disc', 4, 100));
    await engine.addExamples('stripes', await sources('stripes', 4, 100));
    const [top] = await engine.predictBatch([syntheticImage('stripes', 999)]);
    assert.equal(top![0]!.label, 'stripes');
    assert.equal(top![0]!.basis, 'prototypes');
    assert.ok(Math.abs(top!.reduce((s, p) => s + p.probability, 0) - 1) < 1e-5);
    // Adding a class updates the instant answers.
    await engine.addExamples('checker', await sources('checker', 4, 100));
    const [again] = await engine.predictBatch([syntheticImage('checker', 998)]);
    assert.deepEqual([again![0]!.label, again!.length], ['checker', 3]);
  });

  it('warm-starts a new class from the trained head and reaches the from-scratch accuracy in at most half the epochs', async () => {
    const slow = { epochs: 30, learningRate: 3e-5, augment: 0, refit: false, patience: 30, seed: 2, validationSplit: 0.3 } as const;
    engine.clearExamples();
    await engine.addExamples('disc', await sources('disc', 10, 200));
    await engine.addExamples('stripes', await sources('stripes', 10, 200));
    await engine.fineTune(slow);
    await engine.addExamples('checker', await sources('checker', 10, 200));
    const warm = await engine.fineTune(slow);
    assert.equal(warm.warmStarted, true);
    // From scratch: a fresh engine state (no head to start from).
    const scratch = await engine.fineTune({ ...slow, warmStart: false });
    assert.equal(scratch.warmStarted, false);
    // Convergence: the first epoch whose validation loss reaches what from-scratch training ends at.
    const target = scratch.history[scratch.history.length - 1]!.valLoss!;
    const reach = (r: typeof warm) => r.history.find((h) => h.valLoss! <= target)?.epoch ?? Infinity;
    console.log(`# warm start (imprinted new class) reaches val loss ${target.toFixed(4)} at epoch ${reach(warm)}, from scratch at epoch ${reach(scratch)}`);
    assert.ok(reach(warm) <= reach(scratch) / 2, `warm ${reach(warm)} vs scratch ${reach(scratch)}`);
  });

  it('rejects images of a class it never saw as unknown, keeping known classes within 2 points', async () => {
    engine.clearExamples();
    for (const c of ['disc', 'stripes', 'checker'] as const) await engine.addExamples(c, await sources(c, 20, 300));
    const report = await engine.fineTune({ epochs: 20, augment: 1, seed: 4 });
    assert.ok(report.openSet && report.openSet.calibratedOn >= 3 && Object.values(report.openSet.thresholds).every((t) => t > 0 && t < 1));
    const known = (['disc', 'stripes', 'checker'] as const).flatMap((c) => Array.from({ length: 20 }, (_, i) => ({ label: c, img: syntheticImage(c, 700 + i) })));
    const plain = await engine.predictBatch(known.map((k) => k.img));
    const open = await engine.predictBatch(known.map((k) => k.img), { rejectUnknown: true });
    const acc = (preds: typeof plain) => preds.filter((p, i) => p[0]!.label === known[i]!.label).length / known.length;
    const unknowns = Array.from({ length: 30 }, (_, i) => syntheticImage('triangle', 800 + i));
    const rejected = (await engine.predictBatch(unknowns, { rejectUnknown: true })).filter((p) => p[0]!.label === UNKNOWN_LABEL).length / unknowns.length;
    console.log(`# open set: known accuracy ${acc(plain)} -> ${acc(open)} with rejection; unseen class rejected ${rejected}`);
    assert.ok(acc(plain) - acc(open) <= 0.02 + 1e-9, 'known classes lose at most 2 points');
    assert.ok(rejected >= 0.25, `a good share of an unseen class is rejected (${rejected})`);
    // The threshold and prototypes travel with the model.
    const files = await engine.export();
    const other = await createEngine({ useCurrentBackend: true, forward: TEST_FORWARD });
    try {
      await other.import(files);
      const again = await other.predictBatch(unknowns, { rejectUnknown: true });
      assert.equal(again.filter((p) => p[0]!.label === UNKNOWN_LABEL).length / unknowns.length, rejected);
    } finally {
      other.dispose();
    }
    await assert.rejects(engine.addExamples(UNKNOWN_LABEL, known.slice(0, 1).map(() => ({}) as never)), (e) => isEdgetuneError(e, 'INVALID_LABEL'));
  });

  it('reports calibration (ECE) in evaluate: the top-1 probabilities predict gives, binned against correctness', async () => {
    const samples = (['disc', 'stripes', 'checker'] as const).flatMap((c) => [0, 1, 2].map((i) => ({ label: c, image: syntheticImage(c, 900 + i) })));
    const ev = await engine.evaluate(samples);
    const preds = await engine.predictBatch(samples.map((s) => s.image));
    const want = expectedCalibrationError(
      preds.map((p) => p[0]!.probability),
      preds.map((p, i) => p[0]!.label === samples[i]!.label),
    );
    assert.ok(Math.abs(ev.ece! - want) < 1e-9, `ece ${ev.ece} vs ${want}`);
  });

  it('persists embeddings (fp16, on disk): a new engine on the same store computes no backbone pass', async () => {
    const fresh = await createEngine({ useCurrentBackend: true, forward: TEST_FORWARD, embeddingStore: new FileEmbeddingStore(dir) });
    try {
      for (const c of ['disc', 'stripes', 'checker'] as const) await fresh.addExamples(c, await sources(c, 20, 300));
      const r = await fresh.fineTune({ epochs: 5, augment: 1, seed: 4 });
      assert.equal(r.embeddingsComputed, 0);
      assert.equal(r.cacheHits, 60 * 2);
      await fresh.clearCache();
      const cold = await fresh.fineTune({ epochs: 2, augment: 1, seed: 4 });
      assert.equal(cold.embeddingsComputed, 120, 'clearCache empties memory and disk');
    } finally {
      fresh.dispose();
    }
  });
});
