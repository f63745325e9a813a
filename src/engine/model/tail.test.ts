// The trainable tail on the tiny generated backbones (graph and Keras layers):
// at every depth it computes the backbone's own features; its gradients match
// finite differences, on tfjs' product and on a host product; weights load and
// restore; and every graph or layer it cannot rebuild is refused by name.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { isEdgetuneError } from '../../errors.js';
import type { Engine } from '../engine.js';
import { createRng } from '../util/random.js';
import { tinyEngine, tinyGraph, TINY_BLOCKS, TINY_EMBEDDING, TINY_SIZE, type TinyFormat } from '../../testing/tiny-backbone.js';
import type { HostGemm } from './forward.js';
import { jsGemm } from '../../testing/js-gemm.js';
import type { GraphNode } from './graph.js';
import { Tail } from './tail.js';
import { planLayersTail } from './tail-layers.js';
import { planTail, type TailDepth } from './tail-plan.js';

const DEPTHS: TailDepth[] = [0, 1, 2, 3, 4, 'all'];
/** [h, w, c] at each depth's cut: blocks 0-1 read 4x4x24, 2-3 read 8x8x12, 4 reads the 16x16x8 stem output. */
const SHAPES = [[4, 4, 24], [4, 4, 24], [8, 8, 12], [8, 8, 12], [16, 16, 8], [TINY_SIZE, TINY_SIZE, 3]];


const notFinite = (x: number) => !Number.isFinite(x);

for (const format of ['graph', 'layers'] as TinyFormat[]) {
  describe(`Tail of the tiny ${format} backbone`, () => {
    let engine: Engine;
    let input: tf.Tensor4D;
    before(async () => {
      engine = await tinyEngine({ format });
      const { mean, std } = engine.backbone.manifest.normalization;
      input = tf.tidy(() => tf.div(tf.sub(tf.randomUniform([3, TINY_SIZE, TINY_SIZE, 3], 0, 1, 'float32', 21), mean), std) as tf.Tensor4D);
    });
    after(() => {
      input.dispose();
      engine.dispose();
    });

    it('computes the backbone features from the activations at its cut, at every depth', async () => {
      for (const [i, blocks] of DEPTHS.entries()) {
        const tail = await Tail.fromBackbone(engine.backbone, blocks);
        try {
          assert.deepEqual(tail.prefixShape, SHAPES[i], `blocks ${blocks}`);
          assert.equal(tail.cut.input, blocks === 'all');
          assert.ok(tail.forwardBytesPerImage > 0);
          const diff = tf.tidy(() => {
            const { prefix, embedding } = blocks === 'all' ? { prefix: input, embedding: engine.backbone.embed(input) } : engine.backbone.embedWithPrefix(input, tail.plan.cutNode);
            assert.deepEqual(embedding.shape, [3, TINY_EMBEDDING]);
            return tf.max(tf.abs(tf.sub(tail.apply(prefix), embedding))).dataSync()[0]!;
          });
          assert.ok(diff < 1e-4, `blocks ${blocks}: max abs difference ${diff}`);
          // Two weights (kernel, bias) per convolution after the cut: 3 per expanding block, 2 in the first one, 1 at the end; the stem with 'all'.
          const convs = [1, 4, 7, 10, 13, 16][i]!;
          assert.equal(tail.variables.length, 2 * convs, `blocks ${blocks}`);
          assert.deepEqual([...tail.kernelIdx], Array.from({ length: convs }, (_, k) => 2 * k));
        } finally {
          tail.dispose();
        }
      }
      // A second tail of a checked depth reuses the check's shape and size.
      const [a, b] = [await Tail.fromBackbone(engine.backbone, 2), await Tail.fromBackbone(engine.backbone, 2)];
      assert.deepEqual([b.prefixShape, b.forwardBytesPerImage], [a.prefixShape, a.forwardBytesPerImage]);
      a.dispose();
      b.dispose();
    });

    it('refuses more blocks than the backbone has, naming both counts', async () => {
      await assert.rejects(Tail.fromBackbone(engine.backbone, TINY_BLOCKS + 1), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && e.message.endsWith(`it has ${TINY_BLOCKS} blocks before its last 1x1 convolution, ${TINY_BLOCKS + 1} requested`));
    });

    it('has the gradients of its function (finite differences), on tfjs and on a host product alike', async () => {
      const tail = await Tail.fromBackbone(engine.backbone, 'all');
      const rng = createRng(4);
      const r = tf.tensor2d(Float32Array.from({ length: 3 * TINY_EMBEDDING }, () => rng() - 0.5), [3, TINY_EMBEDDING]);
      const f = () => tf.sum(tf.mul(tail.apply(input), r)) as tf.Scalar;
      try {
        const grads = (gemm?: HostGemm) => {
          tail.useGemm(gemm);
          return tf.tidy(() => {
            const { grads: g } = tf.variableGrads(f, tail.variables);
            return tail.variables.map((v) => tf.keep(g[v.name]!));
          });
        };
        const [own, host] = [grads(), grads(jsGemm)];
        tail.useGemm(undefined);
        for (const [i, v] of tail.variables.entries()) {
          const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(own[i]!, host[i]!))).dataSync()[0]!);
          assert.ok(diff < 1e-3, `${v.name}: tfjs and host gradients differ by ${diff}`);
          // Along a random direction d: (f(v + e d) - f(v - e d)) / 2e against <grad, d>.
          const d = tf.tensor(Float32Array.from({ length: v.size }, () => rng() - 0.5), v.shape);
          const start = v.clone();
          const at = (e: number) => (v.assign(tf.tidy(() => tf.add(start, tf.mul(d, e)))), tf.tidy(() => f().dataSync()[0]!));
          const eps = 1e-2;
          const numeric = (at(eps) - at(-eps)) / (2 * eps);
          v.assign(start);
          const analytic = tf.tidy(() => tf.sum(tf.mul(own[i]!, d)).dataSync()[0]!);
          assert.ok(!notFinite(analytic) && Math.abs(analytic - numeric) <= 0.05 * Math.max(1, Math.abs(numeric)), `${v.name}: analytic ${analytic}, numeric ${numeric}`);
          tf.dispose([d, start]);
        }
        tf.dispose([...own, ...host]);
      } finally {
        r.dispose();
        tail.dispose();
      }
    });

    it('loads weights by name, refusing a missing or misshapen one without changing any; snapshots restore', async () => {
      const tail = await Tail.fromBackbone(engine.backbone, 1);
      try {
        const named = tail.weights();
        const before = named.map((w) => w.tensor.dataSync().slice());
        const next = new Map(named.map(({ name, tensor }) => [name, tf.fill(tensor.shape, 0.25)]));
        const [first] = named;
        const missing = new Map(next);
        missing.delete(first!.name);
        assert.throws(() => tail.load(missing), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && e.message.includes(first!.name));
        const misshapen = new Map(next).set(named.at(-1)!.name, tf.zeros([named.at(-1)!.tensor.size + 1]));
        assert.throws(() => tail.load(misshapen), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && e.message.includes(named.at(-1)!.name));
        tail.weights().forEach((w, i) => assert.deepEqual(w.tensor.dataSync(), before[i]));
        const snap = tail.snapshot();
        tail.load(next);
        assert.ok(tail.weights().every((w) => w.tensor.dataSync().every((x) => x === 0.25)));
        tail.restore(snap);
        tail.weights().forEach((w, i) => assert.deepEqual(w.tensor.dataSync(), before[i]));
        tf.dispose([...snap, ...next.values(), ...misshapen.values()]);
      } finally {
        tail.dispose();
      }
    });
  });
}

describe('planTail refuses graphs it cannot rebuild, naming the node', () => {
  const g = tinyGraph();
  const shapes = new Map(g.weights.map((w) => [w.name, w.shape]));
  const b64 = (s: string) => btoa(s);
  /** The graph with node `name` changed by `edit`. */
  const edited = (name: string, edit: (n: GraphNode) => void): GraphNode[] =>
    g.nodes.map((n) => {
      if (n.name !== name) return n;
      const copy = JSON.parse(JSON.stringify(n)) as GraphNode;
      edit(copy);
      return copy;
    });
  const refuses = (nodes: GraphNode[], blocks: TailDepth, pattern: RegExp, s = shapes) =>
    assert.throws(() => planTail(nodes, g.featureNode, blocks, s), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && pattern.test(e.message), String(pattern));

  it('plans the tiny graph: cut nodes, ops and weights per depth', () => {
    const p0 = planTail(g.nodes, g.featureNode, 0, shapes);
    assert.equal(p0.cutNode, 'expanded_conv_4/add');
    assert.deepEqual(p0.ops.map((o) => o.kind), ['conv1x1', 'meanpool', 'identity']);
    assert.deepEqual(p0.weightNodes, ['Conv_1/Relu6_weights', 'Conv_1/Relu6_bn_offset']);
    const p1 = planTail(g.nodes, g.featureNode, 1, shapes);
    assert.equal(p1.cutNode, 'expanded_conv_3/project');
    assert.deepEqual(p1.ops.map((o) => o.kind), ['conv1x1', 'depthwise', 'conv1x1', 'add', 'conv1x1', 'meanpool', 'identity']);
    assert.deepEqual(p1.ops[3], { kind: 'add', name: 'expanded_conv_4/add', inputs: ['expanded_conv_3/project', 'expanded_conv_4/project'] });
    assert.deepEqual(p1.ops[1], { kind: 'depthwise', name: 'expanded_conv_4/depthwise', input: 'expanded_conv_4/expand', kernel: 'expanded_conv_4/depthwise_weights', bias: 'expanded_conv_4/depthwise_bn_offset', act: 'relu6', stride: 1, padding: 'same' });
    assert.deepEqual(p1.ops[2]!.kind === 'conv1x1' && p1.ops[2]!.act, 'none');
    const all = planTail(g.nodes, g.featureNode, 'all', shapes);
    assert.equal(all.cutNode, 'input');
    assert.equal(all.fromInput, true);
    assert.deepEqual(all.constNodes, ['hub_input/Mul/y', 'hub_input/Sub/y']);
    assert.deepEqual(all.ops.slice(0, 3), [
      { kind: 'affine', name: 'hub_input/Mul', input: 'input', op: 'mul', constant: 'hub_input/Mul/y' },
      { kind: 'affine', name: 'hub_input/Sub', input: 'hub_input/Mul', op: 'sub', constant: 'hub_input/Sub/y' },
      { kind: 'conv', name: 'Conv/Relu6', input: 'hub_input/Sub', kernel: 'Conv/Relu6_weights', bias: 'Conv/Relu6_bn_offset', act: 'relu6', stride: 2, padding: 'same' },
    ]);
    const strided = planTail(g.nodes, g.featureNode, 3, shapes).ops.find((o) => o.name === 'expanded_conv_3/depthwise');
    assert.equal(strided?.kind === 'depthwise' && strided.stride, 2);
  });

  it('refuses a missing feature node, an unsupported op, fused ops and activations it does not know', () => {
    assert.throws(() => planTail(g.nodes, 'nowhere', 1, shapes), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && /feature node 'nowhere' is not in the graph/.test(e.message));
    refuses(edited('expanded_conv_4/add', (n) => (n.op = 'Maximum')), 1, /op Maximum \('expanded_conv_4\/add'\) is not supported/);
    refuses(edited('Conv_1/Relu6', (n) => (n.attr!.fused_ops!.list!.s = [b64('BiasAdd'), b64('Relu6'), b64('Add')])), 0, /'Conv_1\/Relu6' fuses \[BiasAdd,Relu6,Add\]/);
    refuses(edited('Conv_1/Relu6', (n) => (n.attr!.fused_ops!.list!.s = [b64('Prelu'), b64('Relu6')])), 0, /fuses \[Prelu,Relu6\]/);
    refuses(edited('Conv_1/Relu6', (n) => (n.attr!.fused_ops!.list!.s = [b64('BiasAdd'), b64('Elu')])), 0, /activation Elu/);
    const relu = planTail(edited('Conv_1/Relu6', (n) => (n.attr!.fused_ops!.list!.s = [b64('BiasAdd'), b64('Relu')])), g.featureNode, 0, shapes);
    assert.equal(relu.ops[0]!.kind === 'conv1x1' && relu.ops[0]!.act, 'relu');
  });

  it('refuses dilations, uneven or strided 1x1 strides, and padding other than SAME or VALID', () => {
    refuses(edited('expanded_conv_4/depthwise', (n) => (n.attr!.dilations = { list: { i: ['1', '2', '2', '1'] } })), 1, /'expanded_conv_4\/depthwise' is dilated/);
    refuses(edited('expanded_conv_4/depthwise', (n) => (n.attr!.strides = { list: { i: ['1', '2', '1', '1'] } })), 1, /'expanded_conv_4\/depthwise' has strides \[1,2,1,1\]/);
    refuses(edited('expanded_conv_4/expand', (n) => (n.attr!.strides = { list: { i: ['1', '2', '2', '1'] } })), 1, /'expanded_conv_4\/expand' has strides/);
    refuses(edited('expanded_conv_4/depthwise', (n) => (n.attr!.padding = { s: b64('EXPLICIT') })), 1, /'expanded_conv_4\/depthwise' uses EXPLICIT padding/);
    const valid = planTail(edited('expanded_conv_4/depthwise', (n) => (n.attr!.padding = { s: b64('VALID') })), g.featureNode, 1, shapes);
    assert.equal((valid.ops[1] as { padding: string }).padding, 'valid');
  });

  it('refuses a tail that reads what it does not compute, a constant minus the input, a non-scalar constant', () => {
    // Nodes out of order: the last convolution listed before the add it reads, which the tail has not computed yet.
    const conv1 = g.nodes.find((n) => n.name === 'Conv_1/Relu6')!;
    const shuffled = g.nodes.filter((n) => n !== conv1);
    shuffled.splice(shuffled.findIndex((n) => n.name === 'expanded_conv_4/add'), 0, conv1);
    refuses(shuffled, 0, /'Conv_1\/Relu6' reads 'expanded_conv_4\/add', which is not computed by the tail/);
    refuses(edited('hub_input/Sub', (n) => (n.input = ['hub_input/Sub/y', 'hub_input/Mul'])), 'all', /'hub_input\/Sub' subtracts its input from a constant/);
    refuses(g.nodes, 'all', /'hub_input\/Mul' reads a non-scalar constant/, new Map(shapes).set('hub_input/Mul/y', [3]));
    refuses(
      g.nodes.filter((n) => n.op !== 'Placeholder'),
      'all',
      /the graph has no input placeholder/,
    );
  });
});

describe('planLayersTail refuses Keras layers it cannot fold, naming the layer', () => {
  /** A small functional model: input -> [layers...] -> a 1x1 expanding conv -> ReLU6 named out_relu. */
  const modelWith = (body: (x: tfl.SymbolicTensor) => tfl.SymbolicTensor) => {
    const input = tfl.input({ shape: [8, 8, 4], name: 'in' });
    const x = body(input);
    const conv = tfl.layers.conv2d({ kernelSize: 1, filters: 16, useBias: false, name: 'Conv_1' }).apply(x) as tfl.SymbolicTensor;
    const out = tfl.layers.reLU({ maxValue: 6, name: 'out_relu' }).apply(conv) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: out });
  };
  const refuses = (body: (x: tfl.SymbolicTensor) => tfl.SymbolicTensor, pattern: RegExp) => {
    const m = modelWith(body);
    try {
      assert.throws(() => planLayersTail(m, 'out_relu', 'all', true), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && pattern.test(e.message), String(pattern));
    } finally {
      m.dispose();
    }
  };
  const apply = (l: tfl.layers.Layer, x: tfl.SymbolicTensor) => l.apply(x) as tfl.SymbolicTensor;

  it('folds what it supports: pads, a ReLU, a Conv2D with its own ReLU, a trailing mean pool', () => {
    const m = modelWith((x) => apply(tfl.layers.conv2d({ kernelSize: 3, filters: 4, activation: 'relu', name: 'c' }), apply(tfl.layers.zeroPadding2d({ padding: 1, name: 'p' }), x)));
    try {
      const { plan, weights } = planLayersTail(m, 'out_relu', 'all', true);
      assert.deepEqual(plan.ops.map((o) => [o.kind, o.name]), [['pad', 'p'], ['conv', 'c'], ['conv1x1', 'out_relu'], ['meanpool', 'out_relu/pool']]);
      assert.deepEqual((plan.ops[0] as { pads: unknown }).pads, [[1, 1], [1, 1]]);
      assert.equal((plan.ops[1] as { act: string; padding: string }).act, 'relu');
      assert.equal((plan.ops[1] as { act: string; padding: string }).padding, 'valid');
      assert.equal((plan.ops[2] as { act: string }).act, 'relu6');
      assert.equal(weights.size, 4);
      tf.dispose([...weights.values()]);
    } finally {
      m.dispose();
    }
    const noPool = modelWith((x) => x);
    try {
      const { plan, weights } = planLayersTail(noPool, 'out_relu', 'all', false);
      assert.deepEqual(plan.ops.map((o) => o.kind), ['conv1x1']);
      tf.dispose([...weights.values()]);
    } finally {
      noPool.dispose();
    }
  });

  it('refuses unsupported layers, capped or leaky ReLUs, activations before a BatchNorm, dilations and strided 1x1s', () => {
    refuses((x) => apply(tfl.layers.maxPooling2d({ poolSize: 1, name: 'mp' }), x), /layer MaxPooling2D \('mp'\) is not supported/);
    refuses((x) => apply(tfl.layers.reLU({ maxValue: 3, name: 'r3' }), apply(tfl.layers.conv2d({ kernelSize: 1, filters: 4, name: 'c' }), x)), /'r3' caps at 3/);
    refuses((x) => apply(tfl.layers.batchNormalization({ name: 'bn' }), apply(tfl.layers.conv2d({ kernelSize: 1, filters: 4, activation: 'relu', name: 'c' }), x)), /'c' applies relu before a BatchNormalization/);
    refuses((x) => apply(tfl.layers.conv2d({ kernelSize: 1, filters: 4, activation: 'tanh', name: 'c' }), x), /'c' uses activation tanh/);
    refuses((x) => apply(tfl.layers.conv2d({ kernelSize: 3, filters: 4, dilationRate: 2, name: 'c' }), x), /'c' is dilated/);
    refuses((x) => apply(tfl.layers.conv2d({ kernelSize: 1, filters: 4, strides: 2, name: 'c' }), x), /'c' has strides \[2,2\]/);
    refuses((x) => apply(tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: [2, 1], name: 'd' }), x), /'d' has strides \[2,1\]/);
  });
});
