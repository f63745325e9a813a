// The full strategy on both bundled backbones (generated images): the whole
// network rebuilt from its input matches the frozen one, every weight trains
// (the stem's through the WASM Conv2DBackpropFilter), a step's batch is split to
// fit its memory budget with the same gradients, a request that cannot fit fails
// before any work, and export/import (tfjs and ONNX) carry every trained weight.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import { isEdgetuneError } from '../../errors.js';
import { PARTIAL_CLASSES as CLASSES, TEST_FORWARD, assertReimportAgrees, partialEngine } from '../../testing/partial-fixture.js';
import { syntheticSet } from '../../testing/synthetic.js';
import { createEngine, type Engine } from '../engine.js';
import { Tail } from '../model/tail.js';
import { microBatchFor, STEP_BYTES_PER_FORWARD_BYTE } from './strategies/tail-strategy.js';

const FULL = { strategy: 'full', epochs: 4, augment: 0, seed: 5, validationSplit: 0, batchSize: 6, full: { epochs: 1 } } as const;

describe('Full strategy on the default backbone (generated images)', () => {
  let engine: Engine;
  const test = syntheticSet(3, 2, 77);

  before(async () => {
    engine = await partialEngine();
  });
  after(() => engine.dispose());

  it('rebuilds the whole graph from its input (normalization and stem included) within 1e-3', async () => {
    const tail = await Tail.fromBackbone(engine.backbone, 'all');
    try {
      assert.equal(tail.cut.input, true);
      assert.deepEqual(tail.cut.shape, [224, 224, 3]);
      assert.ok(tail.plan.ops.some((op) => op.kind === 'conv'), 'the stem is a regular convolution');
      assert.ok(tail.plan.ops.some((op) => op.kind === 'affine'), "the graph's input normalization");
      // Every convolution weight of the graph is a variable of the tail.
      const topo = engine.backbone.artifacts.modelJson.modelTopology as { node: { op: string; input?: string[] }[] };
      const convWeights = topo.node.filter((n) => n.op === '_FusedConv2D' || n.op === 'FusedDepthwiseConv2dNative').flatMap((n) => n.input!.slice(1, 3));
      assert.deepEqual(new Set(tail.weights().map((w) => w.name)), new Set(convWeights));
      const diff = tf.tidy(() => {
        const x = tf.randomUniform([2, 224, 224, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
        return tf.max(tf.abs(tf.sub(tail.apply(x), engine.backbone.embed(x)))).dataSync()[0]!;
      });
      assert.ok(diff < 1e-3, `max abs diff ${diff}`);
      assert.ok(tail.forwardBytesPerImage > 20e6, `a whole network's activations (${tail.forwardBytesPerImage} bytes per image)`);
    } finally {
      tail.dispose();
    }
  });

  it('refuses up front, with OUT_OF_MEMORY, a step that cannot fit even one image; the model in use stays', async () => {
    await engine.fineTune({ epochs: 2, augment: 0, seed: 1, validationSplit: 0 });
    const before = await engine.predictBatch([test[0]!.image]);
    const tensors = tf.memory().numTensors;
    await assert.rejects(engine.fineTune({ ...FULL, full: { stepMemoryBytes: 2 ** 20 } }), (e) => isEdgetuneError(e, 'OUT_OF_MEMORY') && /stepMemoryBytes/.test(e.message));
    assert.equal(tf.memory().numTensors, tensors);
    assert.deepEqual(await engine.predictBatch([test[0]!.image]), before);
  });

  it("sizes a step's passes to the budget (loop.test.ts: the split step equals the whole one)", () => {
    const perImage = 100 * STEP_BYTES_PER_FORWARD_BYTE;
    assert.equal(microBatchFor(100, { batchSize: 32, stepMemoryBytes: 32 * perImage, strategy: 'full' }), undefined, 'the whole batch fits');
    assert.equal(microBatchFor(100, { batchSize: 32, stepMemoryBytes: 5 * perImage + 1, strategy: 'full' }), 5);
    assert.throws(() => microBatchFor(100, { batchSize: 32, stepMemoryBytes: perImage - 1, strategy: 'full' }), (e) => isEdgetuneError(e, 'OUT_OF_MEMORY'));
  });

  it('trains every weight, the stem included; export/import and the ONNX file reproduce its predictions', async () => {
    const report = await engine.fineTune({ ...FULL, full: { epochs: 1, stepMemoryBytes: 400 * 2 ** 20 } });
    assert.equal(report.strategy, 'full');
    const memory = report.partial!.memory;
    assert.ok(memory.microBatch < FULL.batchSize, `the 400 MiB budget splits the batch of 6 (micro-batch ${memory.microBatch})`);
    assert.ok(memory.peakBytes > 0 && memory.peakBytes < 1.5 * 400 * 2 ** 20, `step peak ${memory.peakBytes} bytes`);
    const files = await engine.export();
    const meta = JSON.parse(new TextDecoder().decode(files['edgetune.json']));
    assert.equal(meta.tail.unfreezeBlocks, 'all');
    const stem = meta.tail.weights.find((w: { name: string }) => /MobilenetV2\/Conv\/Conv2D_weights$/.test(w.name));
    assert.ok(stem, 'the stem is among the exported weights');
    let offset = 0;
    for (const w of meta.tail.weights) {
      if (w === stem) break;
      offset += w.shape.reduce((a: number, b: number) => a * b, 1);
    }
    const n = stem.shape.reduce((a: number, b: number) => a * b, 1);
    const trained = new Float32Array(files['tail.bin']!.slice(offset * 4, (offset + n) * 4).buffer);
    const original = await (engine.backbone.model as GraphModel).weights[stem.name]![0]!.data();
    assert.ok(trained.some((v, i) => Math.abs(v - original[i]!) > 1e-7), 'the stem moved');

    const want = await engine.predictBatch(test.map((s) => s.image));
    await assertReimportAgrees(files, test.map((s) => s.image), want);
    // ONNX Runtime on the exported file: the trained stem and blocks are in it.
    const ort = await import('onnxruntime-node');
    const onnx = await engine.export({ format: 'onnx' });
    const session = await ort.InferenceSession.create(onnx['model.onnx']!);
    try {
      const img = test[0]!.image;
      const out = await session.run({ image: new ort.Tensor('uint8', Uint8Array.from(img.data), [1, img.height, img.width, 3]) });
      const probs = out[session.outputNames[0]!]!.data as Float32Array;
      for (const p of want[0]!) assert.ok(Math.abs(probs[CLASSES.indexOf(p.label as never)]! - p.probability) < 2e-3, `${p.label}: ${probs[CLASSES.indexOf(p.label as never)]} vs ${p.probability}`);
    } finally {
      await session.release();
    }
  });
});

describe('Full strategy on the mobilenet_v2 layers backbone', () => {
  it('rebuilds it from its input (ZeroPadding2D + valid stem, BatchNorm folded) within 1e-3', async () => {
    const layers = await createEngine({ useCurrentBackend: true, forward: TEST_FORWARD, backbone: 'mobilenet_v2' });
    try {
      const tail = await Tail.fromBackbone(layers.backbone, 'all');
      const diff = tf.tidy(() => {
        const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 12) as tf.Tensor4D;
        return tf.max(tf.abs(tf.sub(tail.apply(x), layers.backbone.embed(x)))).dataSync()[0]!;
      });
      assert.ok(tail.plan.ops.some((op) => op.kind === 'conv' && /^Conv1/.test(op.name)));
      tail.dispose();
      assert.ok(diff < 1e-3, `max abs diff ${diff}`);
    } finally {
      layers.dispose();
    }
  });
});

describe('Layering', () => {
  it('data/ imports nothing from train/', () => {
    const dir = join(import.meta.dirname, '..', 'data');
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      assert.doesNotMatch(readFileSync(join(dir, f), 'utf8'), /from '\.\.\/train\//, f);
    }
  });
});
