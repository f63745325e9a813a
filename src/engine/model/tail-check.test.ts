// The tail's check against its backbone, and the host product it can run its 1x1
// convolutions on: a tail that disagrees with the graph anywhere (or yields NaN) is
// refused and freed; each depth is checked once per backbone; the forward size it
// measures is the size of one image's tensors; a host product reuses its operand
// buffers on WASM, works on the CPU backend, and skips the input gradient of the
// layer that reads the cached prefix.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { isEdgetuneError } from '../../errors.js';
import type { Engine } from '../engine.js';
import { createEngine } from '../engine.js';
import { servedTiny, tinyBackboneFiles, tinyEngine, TINY_BACKBONE_URL, TINY_SIZE, type TinyFormat } from '../../testing/tiny-backbone.js';
import type { Backbone } from './backbone.js';
import type { HostGemm } from './forward.js';
import { jsGemm } from '../../testing/js-gemm.js';
import type { GraphNode } from './graph.js';
import { Tail } from './tail.js';
import type { TailDepth } from './tail-plan.js';

/** A row-major float32 product that records what it was given. */
function recordingGemm() {
  const calls: { a: Float32Array; b: Float32Array; ta: boolean; tb: boolean }[] = [];
  const gemm: HostGemm = (a, aShape, b, bShape, ta, tb) => {
    calls.push({ a, b, ta, tb });
    return jsGemm(a, aShape, b, bShape, ta, tb);
  };
  return { gemm, calls };
}

/** Counts the backbone's embedding calls (each tail check makes one). */
function countEmbeds(bb: Backbone): () => number {
  let calls = 0;
  const [embed, withPrefix] = [bb.embed, bb.embedWithPrefix];
  bb.embed = (x) => (calls++, embed(x));
  bb.embedWithPrefix = (x, cut) => (calls++, withPrefix(x, cut));
  return () => calls;
}

const randomInput = (n: number, seed: number) => tf.randomUniform([n, TINY_SIZE, TINY_SIZE, 3], -1, 1, 'float32', seed) as tf.Tensor4D;

let engine: Engine | undefined;
afterEach(() => {
  engine?.dispose();
  engine = undefined;
});

for (const format of ['graph', 'layers'] as TinyFormat[]) {
  describe(`Tail.fromBackbone on the tiny ${format} backbone`, () => {
    it('checks each depth once per backbone, whatever the order of the requests', async () => {
      engine = await tinyEngine({ format });
      const embeds = countEmbeds(engine.backbone);
      const build = async (d: TailDepth) => (await Tail.fromBackbone(engine!.backbone, d)).dispose();
      await build(1);
      await build(2);
      assert.equal(embeds(), 2);
      await build(1);
      await build(2);
      await build(1);
      assert.equal(embeds(), 2, 'a depth already checked runs no embedding');
    });

    it('refuses, and frees, a rebuild that differs from the graph in one feature or yields NaN', async () => {
      for (const [delta, shown] of [[0.01, /differs from the graph by 0\.0099|differs from the graph by 0\.01/], [Number.NaN, /differs from the graph by NaN/]] as const) {
        engine = await tinyEngine({ format });
        const bb = engine.backbone;
        const withPrefix = bb.embedWithPrefix;
        // One feature of one image off by `delta`: the graph's answer as a misread rebuild would see it.
        bb.embedWithPrefix = (x, cut) => {
          const { prefix, embedding } = withPrefix(x, cut);
          const bump = tf.scatterND([[1, 7]], [delta], embedding.shape);
          return { prefix, embedding: tf.add(embedding, bump) };
        };
        const before = tf.memory().numTensors;
        await assert.rejects(Tail.fromBackbone(bb, 2), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && shown.test(e.message), String(shown));
        assert.equal(tf.memory().numTensors, before, 'the refused tail is freed');
        engine.dispose();
      }
      engine = undefined;
    });

    it('measures the forward bytes of one image as the tensors its pass creates, and frees what it builds', async () => {
      engine = await tinyEngine({ format });
      const bb = engine.backbone;
      const first = await Tail.fromBackbone(bb, 3);
      const before = tf.memory().numTensors;
      const again = await Tail.fromBackbone(bb, 3);
      again.dispose();
      assert.equal(tf.memory().numTensors, before, 'a tail disposed leaves no tensor behind');
      const measured = tf.tidy(() => {
        const { prefix } = bb.embedWithPrefix(randomInput(1, 3), first.plan.cutNode);
        const start = tf.memory().numBytes;
        first.apply(prefix);
        return tf.memory().numBytes - start;
      });
      assert.ok(Math.abs(first.forwardBytesPerImage - measured) <= 0.25 * measured, `${first.forwardBytesPerImage} bytes per image, one image's pass made ${measured}`);
      first.dispose();
    });
  });
}

describe('Tail on a graph with plain ReLU activations', () => {
  it('rebuilds them as ReLU (the check against the graph passes)', async () => {
    const files = await tinyBackboneFiles('graph');
    const model = JSON.parse(new TextDecoder().decode(files.get('model.json')));
    const relu6 = btoa('Relu6');
    let edited = 0;
    for (const node of model.modelTopology.node as GraphNode[]) {
      const ops = node.attr?.fused_ops?.list?.s;
      if (ops?.[1] === relu6 && node.name.startsWith('expanded_conv_')) (ops[1] = btoa('Relu')), edited++;
    }
    assert.ok(edited >= 4);
    const fetcher = await servedTiny('graph', { files: { 'model.json': new TextEncoder().encode(JSON.stringify(model)) }, relist: true });
    engine = await createEngine({ backends: ['wasm', 'cpu'], backbone: TINY_BACKBONE_URL, fetcher });
    const tail = await Tail.fromBackbone(engine.backbone, 'all');
    const ops = tail.plan.ops.filter((o) => 'act' in o && o.act === 'relu');
    assert.equal(ops.length, edited);
    tail.dispose();
  });
});

describe('Tail on a host product', () => {
  /** Runs forward and backward through `tail`; returns the loss (the features' sum of squares). */
  function step(tail: Tail, input: tf.Tensor4D) {
    const bb = engine!.backbone;
    return tf.tidy(() => {
      const { prefix } = bb.embedWithPrefix(input, tail.plan.cutNode);
      const { value } = tf.variableGrads(() => tf.sum(tf.square(tail.apply(prefix))) as tf.Scalar, tail.variables);
      return value.dataSync()[0]!;
    });
  }

  it('on WASM: copies operands into buffers it reuses, and computes what tfjs computes', async () => {
    engine = await tinyEngine();
    assert.equal(tf.getBackend(), 'wasm');
    const tail = await Tail.fromBackbone(engine.backbone, 2);
    const input = randomInput(2, 9);
    try {
      const own = tf.tidy(() => tf.sum(tf.square(tail.apply(engine!.backbone.embedWithPrefix(input, tail.plan.cutNode).prefix))).dataSync()[0]!);
      const rec = recordingGemm();
      tail.useGemm(rec.gemm);
      step(tail, input);
      const n = rec.calls.length;
      const value = step(tail, input);
      const second = rec.calls.slice(n);
      assert.ok(second.length > 0, 'the host product ran');
      assert.ok(Math.abs(value - own) <= 1e-4 * Math.abs(own), `host ${value}, tfjs ${own}`);
      // After the first step the buffers are as large as the largest operand: every later product reads the same two.
      assert.equal(new Set(second.map((c) => c.a.buffer)).size, 1, 'one buffer for the left operands');
      assert.equal(new Set(second.map((c) => c.b.buffer)).size, 1, 'one buffer for the right operands');
      assert.notEqual(second[0]!.a.buffer, second[0]!.b.buffer);
    } finally {
      input.dispose();
      tail.useGemm(undefined);
      tail.dispose();
    }
  });

  it('on the CPU backend: the same features, and no input gradient for the layer that reads the cached prefix', async () => {
    engine = await tinyEngine({ backends: ['cpu'] });
    assert.equal(tf.getBackend(), 'cpu');
    const tail = await Tail.fromBackbone(engine.backbone, 1);
    const input = randomInput(2, 5);
    try {
      const own = tf.tidy(() => tf.sum(tf.square(tail.apply(engine!.backbone.embedWithPrefix(input, tail.plan.cutNode).prefix))).dataSync()[0]!);
      const rec = recordingGemm();
      tail.useGemm(rec.gemm);
      const value = step(tail, input);
      assert.ok(Math.abs(value - own) <= 1e-4 * Math.abs(own), `host ${value}, tfjs ${own}`);
      const convs = tail.plan.ops.filter((o) => o.kind === 'conv1x1');
      const readsCut = convs.filter((o) => o.kind === 'conv1x1' && o.input === tail.plan.cutNode).length;
      assert.equal(readsCut, 1);
      // Forward: one product per 1x1 convolution; backward: dW = x^T dy for each, dx = dy W^T for all but the first.
      assert.equal(rec.calls.filter((c) => !c.ta && !c.tb).length, convs.length);
      assert.equal(rec.calls.filter((c) => c.ta && !c.tb).length, convs.length);
      assert.equal(rec.calls.filter((c) => !c.ta && c.tb).length, convs.length - readsCut);
    } finally {
      input.dispose();
      tail.useGemm(undefined);
      tail.dispose();
    }
  });
});
