// The engine end to end on the real default backbone, with images generated in code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { createEngine, type Engine } from './engine.js';
import { pixelSource, type ImageSource } from './data/examples.js';
import { isEdgetuneError } from '../errors.js';
import { syntheticImage, syntheticSet, SYNTHETIC_CLASSES } from '../testing/synthetic.js';
import type { RawImage } from '../types.js';

const CLASSES = SYNTHETIC_CLASSES.slice(0, 3);
// From scratch each time: a warm start would continue from the previous run's head.
const FAST = { epochs: 12, augment: 1, seed: 7, warmStart: false } as const;

async function sources(images: RawImage[]): Promise<ImageSource[]> {
  return Promise.all(images.map((img, i) => pixelSource(img, `img${i}`)));
}

/** Adds `perClass` generated training images of each class. */
async function addTraining(engine: Engine, perClass: number, seed = 1): Promise<void> {
  for (const label of CLASSES) {
    const imgs = Array.from({ length: perClass }, (_, i) => syntheticImage(label, seed * 1000 + i));
    await engine.addExamples(label, await sources(imgs));
  }
}

describe('Engine on the default backbone (generated images)', () => {
  let engine: Engine;
  const test = syntheticSet(6, 3, 99);

  before(async () => {
    engine = await createEngine({ backends: ['wasm', 'cpu'] });
    await addTraining(engine, 10);
  });
  after(() => engine.dispose());

  it('chooses the WASM backend in Node and says so', () => {
    assert.equal(engine.backend.name, 'wasm');
    assert.equal(engine.backbone.manifest.id, 'mobilenet_v2_140');
  });

  it('rejects predict before training with NOT_TRAINED', async () => {
    const fresh = await createEngine({ useCurrentBackend: true });
    try {
      await assert.rejects(fresh.predictBatch([test[0]!.image]), (e) => isEdgetuneError(e, 'NOT_TRAINED'));
      await assert.rejects(fresh.fineTune(), (e) => isEdgetuneError(e, 'NO_EXAMPLES'));
      await fresh.addExamples('only', await sources([test[0]!.image]));
      await assert.rejects(fresh.fineTune(), (e) => isEdgetuneError(e, 'TOO_FEW_CLASSES') && /'only'/.test(e.message));
    } finally {
      fresh.dispose();
    }
  });

  it('trains a head well above chance and reports its history', async () => {
    const report = await engine.fineTune(FAST);
    assert.deepEqual(report.labels, [...CLASSES]);
    // FAST has no patience cut below 12 epochs on this data: every epoch is logged, numbered in order.
    assert.deepEqual(report.history.map((h) => h.epoch), Array.from({ length: report.history.length }, (_, i) => i + 1));
    assert.ok(report.bestEpoch >= 1 && report.bestEpoch <= report.history.length, `best epoch ${report.bestEpoch} of ${report.history.length}`);
    assert.ok(report.history.at(-1)!.loss < report.history[0]!.loss, 'the training loss fell');
    assert.equal(report.trainCount + report.validationCount, 30);
    const ev = await engine.evaluate(test.map((s) => ({ label: s.label, image: s.image })));
    assert.ok(ev.accuracy >= 0.8, `test accuracy ${ev.accuracy} (chance is 0.33)`);
    assert.equal(ev.n, test.length);
  });

  it('serves every view from the cache on a second run (no backbone forward pass)', async () => {
    const report = await engine.fineTune(FAST);
    assert.equal(report.embeddingsComputed, 0);
    // Plain + one augmented view per image (the refit stage trains on validation images too).
    assert.equal(report.cacheHits, 30 * 2);
  });

  it('gives identical results with the same seed', async () => {
    const a = await engine.fineTune(FAST);
    const pa = await engine.predictBatch([test[0]!.image]);
    const b = await engine.fineTune(FAST);
    const pb = await engine.predictBatch([test[0]!.image]);
    assert.deepEqual(a.history.map((h) => h.loss), b.history.map((h) => h.loss));
    assert.deepEqual(pa, pb);
  });

  it('returns top-k predictions sorted by probability, summing to 1 over all classes', async () => {
    const [all] = await engine.predictBatch([test[0]!.image]);
    assert.equal(all!.length, 3);
    assert.ok(Math.abs(all!.reduce((s, p) => s + p.probability, 0) - 1) < 1e-4);
    const [top1] = await engine.predictBatch([test[0]!.image], { topK: 1 });
    assert.equal(top1!.length, 1);
    assert.equal(top1![0]!.label, all![0]!.label);
    await assert.rejects(engine.predictBatch([test[0]!.image], { topK: 0 }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT'));
  });

  it('does not leak tensors across repeated fineTune, predict, export and import', async () => {
    await engine.fineTune({ ...FAST, epochs: 2 });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await engine.fineTune({ ...FAST, epochs: 2 });
      await engine.predictBatch(test.slice(0, 4).map((s) => s.image));
      await engine.evaluate(test.slice(0, 4).map((s) => ({ label: s.label, image: s.image })));
      await engine.import(await engine.export({ merged: true }));
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('does not leak tensors when every cycle embeds new images (added, trained, predicted, evaluated)', async () => {
    await engine.fineTune({ ...FAST, epochs: 2 });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      // New pixels each cycle: the backbone runs on them (a cached cycle would prove nothing about embedding).
      await engine.addExamples(CLASSES[i % 3]!, await sources([syntheticImage(CLASSES[i % 3]!, 5000 + i)]));
      const r = await engine.fineTune({ ...FAST, epochs: 2 });
      assert.ok(r.embeddingsComputed > 0, 'the cycle embedded new images');
      await engine.predictBatch([syntheticImage('disc', 6000 + i)]);
      await engine.evaluate([{ label: 'stripes', image: syntheticImage('stripes', 7000 + i) }]);
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('keeps the previous model when fineTune is aborted', async () => {
    await engine.fineTune(FAST);
    const before = await engine.predictBatch([test[1]!.image]);
    const ctrl = new AbortController();
    const run = engine.fineTune({
      ...FAST,
      seed: 1234,
      onProgress: (p) => {
        if (p.phase === 'train' && p.epoch === 2) ctrl.abort();
      },
      signal: ctrl.signal,
    });
    await assert.rejects(run, (e) => isEdgetuneError(e, 'ABORTED'));
    assert.deepEqual(await engine.predictBatch([test[1]!.image]), before);
  });

  it('rejects a second fineTune while one runs with BUSY', async () => {
    const first = engine.fineTune({ ...FAST, epochs: 2 });
    await assert.rejects(engine.fineTune(FAST), (e) => isEdgetuneError(e, 'BUSY'));
    await first;
  });

  it('round-trips export/import with identical predictions', async () => {
    await engine.fineTune(FAST);
    const files = await engine.export();
    const meta = JSON.parse(new TextDecoder().decode(files['edgetune.json']));
    assert.deepEqual(meta.labels, [...CLASSES]);
    assert.equal(meta.backbone.id, 'mobilenet_v2_140');
    const want = await engine.predictBatch(test.slice(0, 3).map((s) => s.image));
    const other = await createEngine({ useCurrentBackend: true });
    try {
      await other.import(files);
      const got = await other.predictBatch(test.slice(0, 3).map((s) => s.image));
      got.flat().forEach((p, i) => assert.ok(Math.abs(p.probability - want.flat()[i]!.probability) < 1e-5));
    } finally {
      other.dispose();
    }
  });

  it('exports a merged model that plain tfjs runs to the same probabilities', async () => {
    const files = await engine.export({ merged: true });
    const json = JSON.parse(new TextDecoder().decode(files['merged/model.json']));
    const w = files['merged/weights.bin']!;
    const graph = await loadGraphModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: w.slice().buffer }),
    );
    const img = test[2]!.image;
    const probs = tf.tidy(() => {
      // The merged model takes RGB 0..255 at 224x224 (bilinear resize with half-pixel centers).
      const x = tf.image.resizeBilinear(tf.tensor3d(Float32Array.from(img.data), [img.height, img.width, 3], 'float32'), [224, 224], false, true);
      return graph.execute(tf.expandDims(x), 'edgetune/probabilities') as tf.Tensor;
    });
    const got = await probs.data();
    probs.dispose();
    graph.dispose();
    const [want] = await engine.predictBatch([img]);
    for (const p of want!) assert.ok(Math.abs(got[CLASSES.indexOf(p.label as never)]! - p.probability) < 1e-4);
  });

  it('refuses exported files whose weights were altered (MODEL_INTEGRITY) or from a newer format (MODEL_INCOMPATIBLE)', async () => {
    const files = await engine.export();
    const before = await engine.predictBatch([test[0]!.image]);
    const tampered = { ...files, 'weights.bin': files['weights.bin']!.slice() };
    tampered['weights.bin']![10]! ^= 0xff;
    await assert.rejects(engine.import(tampered), (e) => isEdgetuneError(e, 'MODEL_INTEGRITY'));
    const meta = JSON.parse(new TextDecoder().decode(files['edgetune.json']));
    const newer = { ...files, 'edgetune.json': new TextEncoder().encode(JSON.stringify({ ...meta, formatVersion: 99 })) };
    await assert.rejects(engine.import(newer), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && /newer/.test(e.message));
    assert.deepEqual(await engine.predictBatch([test[0]!.image]), before, 'a failed import keeps the current model');
  });

  it('validates labels and options with typed errors', async () => {
    await assert.rejects(engine.addExamples('  ', []), (e) => isEdgetuneError(e, 'INVALID_LABEL'));
    await assert.rejects(engine.addExamples('x'.repeat(101), []), (e) => isEdgetuneError(e, 'INVALID_LABEL'));
    await assert.rejects(engine.addExamples('ok', []), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT'));
    await assert.rejects(engine.fineTune({ epochs: 0 }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT') && /epochs/.test(e.message));
    await assert.rejects(engine.fineTune({ learningRate: Number.NaN }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT'));
  });

  it('balances class weights automatically when one class has over twice the examples of another', async () => {
    const imbalanced = await createEngine({ useCurrentBackend: true });
    try {
      await imbalanced.addExamples('disc', await sources(Array.from({ length: 9 }, (_, i) => syntheticImage('disc', i))));
      await imbalanced.addExamples('stripes', await sources(Array.from({ length: 3 }, (_, i) => syntheticImage('stripes', i))));
      const probe = syntheticImage('stripes', 77);
      const stripesProbability = async () => (await imbalanced.predictBatch([probe], { topK: 2 }))[0]!.find((p) => p.label === 'stripes')!.probability;
      const same = { epochs: 4, augment: 0, validationSplit: 0, seed: 3, warmStart: false } as const;
      const r = await imbalanced.fineTune(same);
      assert.ok(r.classWeights && r.classWeights.stripes! > r.classWeights.disc!, JSON.stringify(r.classWeights));
      const balanced = await stripesProbability();
      const off = await imbalanced.fineTune({ ...same, classBalance: 'off' });
      assert.equal(off.classWeights, null);
      const unbalanced = await stripesProbability();
      // The weights act on the training, not only on the report: same data and seed, another model.
      assert.notDeepEqual(r.history.map((h) => h.loss), off.history.map((h) => h.loss));
      assert.ok(Math.abs(balanced - unbalanced) > 1e-5, `stripes: ${balanced} balanced, ${unbalanced} unweighted`);
    } finally {
      imbalanced.dispose();
    }
  });

  it('rejects every call after dispose with DISPOSED', async () => {
    const d = await createEngine({ useCurrentBackend: true });
    d.dispose();
    d.dispose(); // idempotent
    await assert.rejects(d.addExamples('a', []), (e) => isEdgetuneError(e, 'DISPOSED'));
    await assert.rejects(d.fineTune(), (e) => isEdgetuneError(e, 'DISPOSED'));
    await assert.rejects(d.predictBatch([test[0]!.image]), (e) => isEdgetuneError(e, 'DISPOSED'));
  });
});
