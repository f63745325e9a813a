// The backbone as the exports' Network, from the tiny generated backbones: explicit
// pads for TensorFlow's SAME padding, the ops each graph node or Keras layer
// becomes, and every structure the exports cannot write refused by name.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { isEdgetuneError } from '../../errors.js';
import type { Engine } from '../engine.js';
import { tinyEngine } from '../../testing/tiny-backbone.js';
import type { Backbone } from './backbone.js';
import type { GraphNode } from './graph.js';
import { backboneNetwork, samePads } from './network.js';

const b64 = (s: string) => btoa(s);
const refuses = (bb: Backbone, pattern: RegExp) =>
  assert.throws(() => backboneNetwork(bb), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && e.message.startsWith('Cannot export this backbone to ONNX: ') && pattern.test(e.message), String(pattern));

describe('samePads', () => {
  it("is TensorFlow's SAME: the odd pixel at the end, none when the window fits", () => {
    assert.deepEqual(samePads(32, 3, 2), [0, 1]);
    assert.deepEqual(samePads(16, 3, 1), [1, 1]);
    assert.deepEqual(samePads(7, 1, 1), [0, 0]);
    assert.deepEqual(samePads(8, 4, 2), [1, 1]);
    assert.deepEqual(samePads(5, 3, 2), [1, 1]);
  });
});

describe('backboneNetwork of the tiny graph backbone', () => {
  let engine: Engine;
  let bb: Backbone;
  let nodes: GraphNode[];
  before(async () => {
    engine = await tinyEngine();
    bb = engine.backbone;
    nodes = (bb.artifacts.modelJson.modelTopology as { node: GraphNode[] }).node;
  });
  after(() => engine.dispose());
  /** The same backbone with its graph edited (the loaded weights stay the same). */
  const withGraph = (edit: (nodes: GraphNode[]) => GraphNode[], manifest: Partial<Backbone['manifest']> = {}): Backbone => ({
    ...bb,
    manifest: { ...bb.manifest, ...manifest },
    artifacts: { ...bb.artifacts, modelJson: { ...bb.artifacts.modelJson, modelTopology: { node: edit(JSON.parse(JSON.stringify(nodes))) } } },
  });
  const node = (list: GraphNode[], name: string) => list.find((n) => n.name === name)!;

  it('turns the graph into ops with explicit pads, its weights and the feature output', () => {
    const net = backboneNetwork(bb);
    assert.equal(net.input, 'input');
    assert.equal(net.output, 'feature_vector/SpatialSqueeze');
    assert.deepEqual(net.ops.slice(0, 3), [
      { kind: 'scalar', name: 'hub_input/Mul', input: 'input', op: 'Mul', value: 'hub_input/Mul/y', constFirst: true },
      { kind: 'scalar', name: 'hub_input/Sub', input: 'hub_input/Mul', op: 'Sub', value: 'hub_input/Sub/y', constFirst: false },
      { kind: 'conv', name: 'Conv/Relu6', input: 'hub_input/Sub', kernel: 'Conv/Relu6_weights', bias: 'Conv/Relu6_bn_offset', act: 'relu6', stride: [2, 2], pads: [0, 1, 0, 1], depthwise: false },
    ]);
    const dw = net.ops.find((o) => o.name === 'expanded_conv_3/depthwise');
    assert.deepEqual(dw && dw.kind === 'conv' && [dw.stride, dw.pads, dw.depthwise, dw.act], [[2, 2], [0, 1, 0, 1], true, 'relu6']);
    const project = net.ops.find((o) => o.name === 'expanded_conv_3/project');
    assert.deepEqual(project && project.kind === 'conv' && [project.pads, project.act], [[0, 0, 0, 0], 'none']);
    assert.deepEqual(net.ops.at(-2), { kind: 'meanpool', name: 'Logits/AvgPool', input: 'Conv_1/Relu6' });
    assert.deepEqual(net.ops.at(-1), { kind: 'identity', name: 'feature_vector/SpatialSqueeze', input: 'Logits/AvgPool' });
    assert.deepEqual(net.weights.get('Conv/Relu6_weights')!.shape, [3, 3, 3, 8]);
    assert.equal(net.weights.size, 2 + 2 * 16);
  });

  it('takes a tail\'s weights in place of the backbone\'s, refusing unknown names and other shapes', () => {
    const w = backboneNetwork(bb).weights.get('Conv_1/Relu6_bn_offset')!;
    const replaced = { shape: w.shape, data: new Float32Array(w.data.length).fill(7) };
    assert.equal(backboneNetwork(bb, new Map([['Conv_1/Relu6_bn_offset', replaced]])).weights.get('Conv_1/Relu6_bn_offset'), replaced);
    assert.throws(() => backboneNetwork(bb, new Map([['nowhere', replaced]])), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && /the tail weight 'nowhere' is not in the backbone/.test(e.message));
    assert.throws(() => backboneNetwork(bb, new Map([['Conv_1/Relu6_bn_offset', { shape: [41], data: new Float32Array(41) }]])), (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && /has shape \[41\], the backbone's is \[40\]/.test(e.message));
  });

  it('writes Mean, Relu, Identity and a VALID convolution; a constant-first Add is a scalar op', () => {
    const net = backboneNetwork(
      withGraph((list) => {
        node(list, 'Logits/AvgPool').op = 'Mean';
        node(list, 'expanded_conv_4/depthwise').attr!.padding = { s: b64('VALID') };
        node(list, 'Conv_1/Relu6').attr!.fused_ops!.list!.s = [b64('BiasAdd'), b64('Relu')];
        node(list, 'hub_input/Sub').op = 'AddV2';
        return list;
      }),
    );
    assert.deepEqual(net.ops.find((o) => o.name === 'Logits/AvgPool'), { kind: 'meanpool', name: 'Logits/AvgPool', input: 'Conv_1/Relu6' });
    const dw = net.ops.find((o) => o.name === 'expanded_conv_4/depthwise');
    assert.deepEqual(dw?.kind === 'conv' && dw.pads, [0, 0, 0, 0]);
    const c1 = net.ops.find((o) => o.name === 'Conv_1/Relu6');
    assert.equal(c1?.kind === 'conv' && c1.act, 'relu');
    assert.deepEqual(net.ops[1], { kind: 'scalar', name: 'hub_input/Sub', input: 'hub_input/Mul', op: 'Add', value: 'hub_input/Sub/y', constFirst: false });
  });

  it('refuses what it cannot write, naming the node', () => {
    refuses(withGraph((l) => l.filter((n) => n.op !== 'Placeholder')), /the graph has no input/);
    refuses(withGraph((l) => l, { featureNode: 'nowhere' }), /feature node 'nowhere' is not in the graph/);
    refuses(withGraph((l) => ((node(l, 'expanded_conv_4/add').op = 'Maximum'), l)), /op Maximum \('expanded_conv_4\/add'\)/);
    refuses(withGraph((l) => ((node(l, 'Conv_1/Relu6').attr!.fused_ops!.list!.s = [b64('BiasAdd'), b64('Relu6'), b64('Add')]), l)), /'Conv_1\/Relu6' fuses \[BiasAdd,Relu6,Add\]/);
    refuses(withGraph((l) => ((node(l, 'Conv_1/Relu6').attr!.fused_ops!.list!.s = [b64('BiasAdd'), b64('Elu')]), l)), /activation Elu/);
    refuses(withGraph((l) => ((node(l, 'expanded_conv_4/depthwise').attr!.dilations = { list: { i: ['1', '2', '2', '1'] } }), l)), /'expanded_conv_4\/depthwise' is dilated/);
    refuses(withGraph((l) => ((node(l, 'expanded_conv_4/depthwise').attr!.padding = { s: b64('EXPLICIT') }), l)), /'expanded_conv_4\/depthwise' uses EXPLICIT padding/);
    refuses(withGraph((l) => ((node(l, 'Logits/AvgPool').attr!.ksize = { list: { i: ['1', '2', '2', '1'] } }), l)), /'Logits\/AvgPool' pools 2x2 of a 4x4 map \(only global pooling is supported\)/);
    refuses(withGraph((l) => ((node(l, 'Logits/AvgPool').op = 'Mean'), (node(l, 'Logits/AvgPool').attr!.keep_dims = { b: true } as never), l)), /'Logits\/AvgPool' keeps the pooled dimensions/);
    refuses(withGraph((l) => ((node(l, 'feature_vector/SpatialSqueeze').input = ['Conv_1/Relu6']), l)), /'feature_vector\/SpatialSqueeze' squeezes the output of _FusedConv2D, not of a global pool/);
    refuses(withGraph((l) => ((node(l, 'hub_input/Sub').input = ['hub_input/Mul', 'input']), l)), /'hub_input\/Sub' \(Sub\) of two tensors/);
    refuses(withGraph((l) => ((node(l, 'Conv/Relu6').input![1] = 'hub_input/Mul'), l)), /'hub_input\/Mul' is not a constant/);
  });
});

describe('backboneNetwork of Keras layers', () => {
  let engine: Engine;
  before(async () => {
    engine = await tinyEngine({ format: 'layers' });
  });
  after(() => engine.dispose());
  /** A backbone whose model is `model`, with the tiny layers backbone's manifest otherwise. */
  const withModel = (model: tfl.LayersModel, featureNode: string): Backbone => ({ ...engine.backbone, model, manifest: { ...engine.backbone.manifest, featureNode, inputSize: [8, 8] } });
  const small = (body: (x: tfl.SymbolicTensor) => tfl.SymbolicTensor) => {
    const input = tfl.input({ shape: [8, 8, 4], name: 'in' });
    return tfl.model({ inputs: input, outputs: body(input) });
  };
  const apply = (l: tfl.layers.Layer, x: tfl.SymbolicTensor) => l.apply(x) as tfl.SymbolicTensor;

  it('folds each convolution with its BatchNorm and ReLU, pads as Keras does, and pools the features', () => {
    const net = backboneNetwork(engine.backbone);
    assert.equal(net.input, 'input_1');
    assert.deepEqual(net.ops[0], { kind: 'pad', name: 'Conv1_pad', input: 'input_1', pads: [0, 1, 0, 1] });
    const stem = net.ops[1]!;
    assert.deepEqual(stem.kind === 'conv' && [stem.name, stem.input, stem.kernel, stem.act, stem.stride, stem.pads], ['Conv1_relu', 'Conv1_pad', 'Conv1/folded_kernel', 'relu6', [2, 2], [0, 0, 0, 0]]);
    assert.deepEqual(net.ops.find((o) => o.kind === 'add'), { kind: 'add', name: 'block_2_add', inputs: ['block_1_project_BN', 'block_2_project_BN'] });
    assert.deepEqual(net.ops.at(-1), { kind: 'meanpool', name: 'out_relu/pool', input: 'out_relu' });
    assert.equal(net.output, 'out_relu/pool');
  });

  it('refuses layers it cannot write, naming them', () => {
    const cases: [tfl.LayersModel, string, RegExp][] = [
      [small((x) => apply(tfl.layers.maxPooling2d({ poolSize: 2, name: 'mp' }), x)), 'mp', /layer MaxPooling2D \('mp'\)/],
      [small((x) => apply(tfl.layers.conv2d({ kernelSize: 3, filters: 4, dilationRate: 2, name: 'c' }), x)), 'c', /'c' is dilated/],
      [small((x) => apply(tfl.layers.conv2d({ kernelSize: 1, filters: 4, activation: 'relu', name: 'c' }), x)), 'c', /'c' has a fused relu activation/],
      [small((x) => apply(tfl.layers.reLU({ maxValue: 4, name: 'r' }), x)), 'r', /'r' caps at 4/],
      [small((x) => x), 'nowhere', /feature layer 'nowhere' is not in the model/],
    ];
    for (const [model, feature, pattern] of cases) {
      try {
        refuses(withModel(model, feature), pattern);
      } finally {
        model.dispose();
      }
    }
    const padded = small((x) => apply(tfl.layers.zeroPadding2d({ padding: [2, 1], name: 'p' }), apply(tfl.layers.reLU({ name: 'r' }), x)));
    try {
      const net = backboneNetwork(withModel(padded, 'p'));
      assert.deepEqual(net.ops.slice(0, 2), [
        { kind: 'relu', name: 'r', input: 'in', act: 'relu' },
        { kind: 'pad', name: 'p', input: 'r', pads: [2, 2, 1, 1] },
      ]);
    } finally {
      padded.dispose();
    }
  });
});
