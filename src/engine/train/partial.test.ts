// The partial strategy on the real default backbone: the rebuilt tail matches
// the graph, trains on WASM, exports (with a merged model) and reloads.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { createEngine, type Engine } from '../engine.js';
import { pixelSource } from '../data/examples.js';

import { Tail } from '../model/tail.js';
import { planTail } from '../model/tail-plan.js';
import { isEdgetuneError } from '../../errors.js';
import { PARTIAL, PARTIAL_CLASSES as CLASSES, TEST_FORWARD, assertReimportAgrees, partialEngine } from '../../testing/partial-fixture.js';
import { syntheticImage, syntheticSet } from '../../testing/synthetic.js';
import { fromHalf, toHalf } from '../util/fp16.js';


describe('fp16 storage of prefix activations', () => {
  it('round-trips within half precision, including zero, negatives, tiny and huge values', () => {
    const x = Float32Array.from([0, 1, -1, 0.1, 3.14159, 6, 1e-5, -2e-7, 65504, 1e6, -0]);
    const y = fromHalf(toHalf(x));
    x.forEach((v, i) => {
      if (Math.abs(v) > 65504) assert.equal(y[i], Infinity);
      else if (Math.abs(v) < 6e-8) assert.equal(Math.abs(y[i]!), 0);
      else assert.ok(Math.abs(y[i]! - v) <= Math.abs(v) * 1e-3 + 6e-8, `${v} -> ${y[i]}`);
    });
  });
});

describe('Partial strategy on the default backbone (generated images)', () => {
  let engine: Engine;
  const test = syntheticSet(3, 3, 51);

  before(async () => {
    engine = await partialEngine();
  });
  after(() => engine.dispose());

  it('rebuilds tails whose output matches the graph feature vector within 1e-3 on random inputs', async () => {
    // 4 reaches into block 13, whose depthwise convolution has stride 2 (14x14 -> 7x7); 6 starts in the 14x14 stage.
    for (const blocks of [0, 1, 2, 4, 6]) {
      const tail = await Tail.fromBackbone(engine.backbone, blocks);
      try {
        const diff = tf.tidy(() => {
          const x = tf.randomUniform([3, 224, 224, 3], 0, 1, 'float32', 100 + blocks) as tf.Tensor4D;
          const { prefix, embedding } = engine.backbone.embedWithPrefix(x, tail.plan.cutNode);
          return tf.max(tf.abs(tf.sub(tail.apply(prefix), embedding))).dataSync()[0]!;
        });
        assert.ok(diff < 1e-3, `blocks=${blocks}: max abs diff ${diff}`);
        // One block's cut is the input of MobileNetV2's last bottleneck block: 7x7x224 at 224 px.
        if (blocks === 1) assert.deepEqual(tail.prefixShape, [7, 7, 224]);
        if (blocks === 4) assert.deepEqual(tail.prefixShape, [14, 14, 136]);
      } finally {
        tail.dispose();
      }
    }
  });

  it('refuses more blocks than the graph has, with MODEL_INCOMPATIBLE', async () => {
    await assert.rejects(Tail.fromBackbone(engine.backbone, 40), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && /blocks/.test(e.message));
    const nodes = [
      { name: 'in', op: 'Placeholder' },
      { name: 'k', op: 'Const' },
      { name: 'conv', op: 'Conv2D', input: ['in', 'k'] },
      { name: 'out', op: 'Softmax', input: ['conv'] },
    ];
    assert.throws(() => planTail(nodes, 'out', 0, new Map([['k', [3, 3, 3, 8]]])), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE'));
  });

  it('recomputes prefix activations that exceed the budget, with the same result as the cache (fp16 tolerance)', async () => {
    // The budget logic does not depend on the depth: two blocks keep the two runs short.
    const run = { ...PARTIAL, unfreezeBlocks: 2 };
    const all = await engine.fineTune(run);
    const cached = await engine.predictBatch([test[0]!.image]);
    // Two blocks cut at block 15's input: 7x7x224 fp16 per view; the budget holds ten views.
    const budget = 10 * 7 * 7 * 224 * 2;
    const report = await engine.fineTune({ ...run, prefixCacheBytes: budget });
    assert.deepEqual(report.partial!.prefix, { cached: 10, recomputed: 26, budgetBytes: budget });
    // The first epoch sees the same views, read back from fp16 or recomputed in fp32.
    const [a, b] = [all.partial!.history[0]!.loss, report.partial!.history[0]!.loss];
    assert.ok(Math.abs(a - b) < 1e-2 * a, `first partial epoch's loss: ${a} (cached) vs ${b} (recomputed)`);
    const recomputed = await engine.predictBatch([test[0]!.image]);
    for (const p of cached[0]!) {
      const q = recomputed[0]!.find((r) => r.label === p.label)!;
      // Two epochs at the default backbone rate amplify the fp16 rounding: 0.06 was seen.
      assert.ok(Math.abs(p.probability - q.probability) < 0.1, `${p.label}: ${p.probability} vs ${q.probability}`);
    }
  });

  it('changes the backbone tail, and export/import reproduces its predictions (format version 2)', async () => {
    // One epoch of the default six blocks already moves every weight of the tail.
    await engine.fineTune({ ...PARTIAL, partialEpochs: 1 });
    const files = await engine.export({ merged: true });
    const meta = JSON.parse(new TextDecoder().decode(files['edgetune.json']));
    assert.equal(meta.formatVersion, 2);
    // The default tail: blocks 11-16 (the 14x14 stage's last two, the 7x7 stage) and Conv_1, cut at block 10's output.
    assert.match(meta.tail.cutNode, /expanded_conv_10\/project\/BatchNorm\/FusedBatchNormV3$/);
    assert.equal(meta.tail.unfreezeBlocks, 6);
    assert.ok(files['tail.bin']!.length > 12_000_000, 'the tail weights are in the export');
    // Training moved the tail away from the graph's own weights.
    const first = meta.tail.weights[0];
    const n = first.shape.reduce((a: number, b: number) => a * b, 1);
    const trained = new Float32Array(files['tail.bin']!.slice(0, n * 4).buffer);
    const original = await (engine.backbone.model as GraphModel).weights[first.name]![0]!.data();
    assert.ok(trained.some((v, i) => Math.abs(v - original[i]!) > 1e-6), 'the exported tail differs from the frozen graph');
    const want = await engine.predictBatch(test.map((s) => s.image));

    await assertReimportAgrees(files, test.map((s) => s.image), want);

    // The merged model has the fine-tuned tail's weights in place of the graph's.
    const json = JSON.parse(new TextDecoder().decode(files['merged/model.json']));
    const graph = await loadGraphModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: files['merged/weights.bin']!.slice().buffer }),
    );
    const img = test[1]!.image;
    const probs = tf.tidy(() => {
      const x = tf.image.resizeBilinear(tf.tensor3d(Float32Array.from(img.data), [img.height, img.width, 3], 'float32'), [224, 224], false, true);
      return graph.execute(tf.expandDims(x), 'edgetune/probabilities') as tf.Tensor;
    });
    const merged = await probs.data();
    probs.dispose();
    graph.dispose();
    for (const p of want[1]!) assert.ok(Math.abs(merged[CLASSES.indexOf(p.label as never)]! - p.probability) < 1e-4);
  });

  it('rebuilds the mobilenet_v2 layers backbone tail (BatchNorm folded) and trains it', async () => {
    const layers = await createEngine({ useCurrentBackend: true, forward: TEST_FORWARD, backbone: 'mobilenet_v2' });
    try {
      for (const blocks of [0, 1, 4, 6]) {
        const tail = await Tail.fromBackbone(layers.backbone, blocks);
        const diff = tf.tidy(() => {
          const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 11) as tf.Tensor4D;
          const { prefix, embedding } = layers.backbone.embedWithPrefix(x, tail.plan.cutNode);
          return tf.max(tf.abs(tf.sub(tail.apply(prefix), embedding))).dataSync()[0]!;
        });
        tail.dispose();
        assert.ok(diff < 1e-3, `blocks=${blocks}: max abs diff ${diff}`);
      }
      for (const label of CLASSES) {
        await layers.addExamples(label, await Promise.all(Array.from({ length: 4 }, (_, i) => pixelSource(syntheticImage(label, 900 + i), `${label}${i}`))));
      }
      const report = await layers.fineTune({ ...PARTIAL, partialEpochs: 1 });
      assert.equal(report.partial!.history.length, 1);
      const files = await layers.export();
      // The default 6 blocks: block_11 to block_16 (block_13: stride 2, ZeroPadding2D + valid depthwise), cut at block_10's output.
      assert.match(JSON.parse(new TextDecoder().decode(files['edgetune.json'])).tail.cutNode, /^block_10_project_BN$/);
      const want = await layers.predictBatch([test[0]!.image]);
      await layers.import(files);
      const got = await layers.predictBatch([test[0]!.image]);
      got[0]!.forEach((p, j) => assert.ok(Math.abs(p.probability - want[0]![j]!.probability) < 1e-4));
    } finally {
      layers.dispose();
    }
  });
});
