// A backbone as a plain list of ops with float32 weights, independent of tfjs:
// what the ONNX and TFLite writers translate. Graph backbones are read from their node
// list, Keras layers backbones from their layers (BatchNorm folded into the
// convolutions, the same folding and weight names as the trainable tail), so a
// fine-tuned tail's weights replace the backbone's by name.
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { EdgetuneError } from '../../errors.js';
import type { Backbone } from './backbone.js';
import { ancestorsOf, ref, type GraphNode } from './graph.js';
import { foldBatchNorm, foldedChain, reluAct, type KerasLayer } from './tail-layers.js';

export type Act = 'none' | 'relu' | 'relu6';
/** Explicit padding: [top, bottom, left, right]. */
export type Pads = [number, number, number, number];

/** One op in NHWC terms; kernels are TensorFlow's layout (HWIO, depthwise HWC1). */
export type NetOp =
  | { kind: 'conv'; name: string; input: string; kernel: string; bias: string; act: Act; stride: [number, number]; pads: Pads; depthwise: boolean }
  | { kind: 'pad'; name: string; input: string; pads: Pads }
  | { kind: 'add'; name: string; inputs: [string, string] }
  | { kind: 'scalar'; name: string; input: string; op: 'Mul' | 'Sub' | 'Add'; value: string; constFirst: boolean }
  | { kind: 'relu'; name: string; input: string; act: Act }
  | { kind: 'identity'; name: string; input: string }
  | { kind: 'meanpool'; name: string; input: string };

export interface Weight {
  shape: number[];
  data: Float32Array;
}

export interface Network {
  /** The name the first op reads: the normalized pixels, NHWC. */
  input: string;
  ops: NetOp[];
  /** Its last op's output is the feature vector [n, d]. */
  output: string;
  weights: Map<string, Weight>;
}

function unsupported(msg: string): never {
  throw new EdgetuneError('MODEL_INCOMPATIBLE', `Cannot export this backbone to ONNX: ${msg}`);
}

/** TensorFlow's SAME padding for one axis: the odd pixel goes to the end. */
export function samePads(size: number, k: number, s: number): [number, number] {
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Spatial sizes along the network, to turn SAME padding into explicit pads. */
class Sizes {
  private readonly hw = new Map<string, [number, number]>();
  constructor(input: string, size: readonly [number, number]) {
    this.hw.set(input, [size[0], size[1]]);
  }
  of(name: string): [number, number] {
    return this.hw.get(name) ?? unsupported(`the size of '${name}' is unknown`);
  }
  set(name: string, hw: [number, number]): void {
    this.hw.set(name, hw);
  }
  /** `name` has `from`'s size, if `from` has one (pooled values have none). */
  carry(name: string, from: string): void {
    const hw = this.hw.get(from);
    if (hw) this.hw.set(name, hw);
  }
  /** Pads for a k x k window at `stride`, and records the output size. */
  window(name: string, input: string, k: [number, number], stride: [number, number], same: boolean): Pads {
    const [h, w] = this.of(input);
    const [t, b] = same ? samePads(h, k[0], stride[0]) : [0, 0];
    const [l, r] = same ? samePads(w, k[1], stride[1]) : [0, 0];
    const pads: Pads = [t, b, l, r];
    this.set(name, [Math.floor((h + pads[0] + pads[1] - k[0]) / stride[0]) + 1, Math.floor((w + pads[2] + pads[3] - k[1]) / stride[1]) + 1]);
    return pads;
  }
}

/**
 * The backbone as a Network. `replace` holds a fine-tuned tail's weights by
 * name; they take the place of the backbone's.
 */
export function backboneNetwork(backbone: Backbone, replace: Map<string, Weight> = new Map()): Network {
  const net = backbone.manifest.format === 'graph' ? graphNetwork(backbone) : layersNetwork(backbone);
  for (const [name, w] of replace) {
    const old = net.weights.get(name) ?? unsupported(`the tail weight '${name}' is not in the backbone`);
    if (old.shape.join() !== w.shape.join()) unsupported(`the tail weight '${name}' has shape [${w.shape}], the backbone's is [${old.shape}]`);
    net.weights.set(name, w);
  }
  if (backbone.manifest.pooling === 'avg') net.ops.push({ kind: 'meanpool', name: `${net.output}/pool`, input: net.output });
  net.output = net.ops[net.ops.length - 1]!.name;
  return net;
}

const decode = (s?: string) => (s ? atob(s) : '');
const ints = (n: GraphNode, k: string) => (n.attr?.[k]?.list?.i ?? []).map(Number);

function graphNetwork(backbone: Backbone): Network {
  const { featureNode, inputSize } = backbone.manifest;
  const nodes = (backbone.artifacts.modelJson.modelTopology as { node: GraphNode[] }).node;
  const graphWeights = (backbone.model as GraphModel).weights;
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const input = nodes.find((n) => n.op === 'Placeholder')?.name ?? unsupported('the graph has no input');
  const weights = new Map<string, Weight>();
  const constant = (name: string): string => {
    if (byName.get(name)?.op !== 'Const') unsupported(`'${name}' is not a constant`);
    if (!weights.has(name)) {
      const t = graphWeights[name]?.[0] ?? unsupported(`weight '${name}' is missing from the loaded graph`);
      weights.set(name, { shape: t.shape, data: Float32Array.from(t.dataSync() as Float32Array) });
    }
    return name;
  };
  const needed = ancestorsOf(nodes, featureNode);
  if (!needed.has(featureNode)) unsupported(`feature node '${featureNode}' is not in the graph`);
  const sizes = new Sizes(input, inputSize);
  const ops: NetOp[] = [];
  for (const n of nodes.filter((x) => needed.has(x.name) && x.op !== 'Const' && x.op !== 'Placeholder')) {
    const data = (n.input ?? []).filter((i) => !i.startsWith('^')).map(ref);
    ops.push(graphOp(n, data, { constant, shapeOf: (name) => weights.get(name)!.shape, byName, sizes }));
  }
  return { input, ops, output: featureNode, weights };
}

interface GraphContext {
  /** Records a Const node's weight and returns its name. */
  constant: (name: string) => string;
  shapeOf: (name: string) => number[];
  byName: Map<string, GraphNode>;
  sizes: Sizes;
}

function graphOp(n: GraphNode, data: string[], ctx: GraphContext): NetOp {
  const { constant, shapeOf, byName, sizes } = ctx;
  const isConst = (name: string | undefined) => byName.get(name ?? '')?.op === 'Const';
  const passSize = (from: string) => sizes.set(n.name, sizes.of(from));
  switch (n.op) {
    case '_FusedConv2D':
    case 'FusedDepthwiseConv2dNative': {
      const [x, k, b] = data;
      const fused = (n.attr?.fused_ops?.list?.s ?? []).map(decode);
      if (fused[0] !== 'BiasAdd' || fused.length > 2 || !x || !k || !b) unsupported(`'${n.name}' fuses [${fused}]`);
      const act: Act = fused[1] === 'Relu6' ? 'relu6' : fused[1] === 'Relu' ? 'relu' : fused[1] ? unsupported(`activation ${fused[1]}`) : 'none';
      if (ints(n, 'dilations').some((d) => d !== 1)) unsupported(`'${n.name}' is dilated`);
      const padding = decode(n.attr?.padding?.s);
      if (padding !== 'SAME' && padding !== 'VALID') unsupported(`'${n.name}' uses ${padding} padding`);
      const [, sh = 1, sw = 1] = ints(n, 'strides');
      const kernel = constant(k);
      const [kh = 1, kw = 1] = shapeOf(kernel);
      const pads = sizes.window(n.name, x, [kh, kw], [sh, sw], padding === 'SAME');
      return { kind: 'conv', name: n.name, input: x, kernel, bias: constant(b), act, stride: [sh, sw], pads, depthwise: n.op !== '_FusedConv2D' };
    }
    case 'AddV2':
    case 'Add': {
      const [a, c] = data;
      if (isConst(a) || isConst(c)) return scalarOp(n, data, 'Add', constant, isConst, passSize);
      passSize(a!);
      return { kind: 'add', name: n.name, inputs: [a!, c!] };
    }
    case 'Mul':
    case 'Sub':
      return scalarOp(n, data, n.op, constant, isConst, passSize);
    case 'Relu6':
    case 'Relu':
      passSize(data[0]!);
      return { kind: 'relu', name: n.name, input: data[0]!, act: n.op === 'Relu6' ? 'relu6' : 'relu' };
    case 'AvgPool': {
      const [, kh = 0, kw = 0] = ints(n, 'ksize');
      const [h, w] = sizes.of(data[0]!);
      if (kh !== h || kw !== w) unsupported(`'${n.name}' pools ${kh}x${kw} of a ${h}x${w} map (only global pooling is supported)`);
      return { kind: 'meanpool', name: n.name, input: data[0]! };
    }
    case 'Mean':
      if (n.attr?.keep_dims?.b) unsupported(`'${n.name}' keeps the pooled dimensions`);
      return { kind: 'meanpool', name: n.name, input: data[0]! };
    case 'Squeeze': {
      // A global pool's output is already [n, d] in the ONNX graph; a squeeze elsewhere is not supported.
      const from = byName.get(data[0]!)?.op;
      if (from !== 'AvgPool' && from !== 'Mean') unsupported(`'${n.name}' squeezes the output of ${from}, not of a global pool`);
      return { kind: 'identity', name: n.name, input: data[0]! };
    }
    case 'Identity':
      sizes.carry(n.name, data[0]!);
      return { kind: 'identity', name: n.name, input: data[0]! };
    default:
      return unsupported(`op ${n.op} ('${n.name}')`);
  }
}

function scalarOp(
  n: GraphNode,
  data: string[],
  op: 'Mul' | 'Sub' | 'Add',
  constant: (name: string) => string,
  isConst: (name: string | undefined) => boolean,
  passSize: (from: string) => void,
): NetOp {
  const [a, b] = data;
  const constFirst = isConst(a);
  const [x, c] = constFirst ? [b!, a!] : [a!, b!];
  if (!isConst(c)) unsupported(`'${n.name}' (${op}) of two tensors`);
  passSize(x);
  return { kind: 'scalar', name: n.name, input: x, op, value: constant(c), constFirst };
}

function layersNetwork(backbone: Backbone): Network {
  const model = backbone.model as LayersModel;
  const layers = model.layers as unknown as KerasLayer[];
  const inputsOf = (l: KerasLayer) => (l.inboundNodes[0]?.inboundLayers ?? []).map((x) => x.name);
  const end = layers.findIndex((l) => l.name === backbone.manifest.featureNode);
  if (end < 0) unsupported(`feature layer '${backbone.manifest.featureNode}' is not in the model`);
  const first = layers[0]!;
  if (first.getClassName() !== 'InputLayer') unsupported(`the first layer is ${first.getClassName()}`);
  const sizes = new Sizes(first.name, backbone.manifest.inputSize);
  const weights = new Map<string, Weight>();
  const ops: NetOp[] = [];
  const alias = new Map<string, string>([[first.name, first.name]]);
  const resolve = (n: string) => alias.get(n) ?? unsupported(`'${n}' is read before it is computed`);
  const order = layers.slice(0, end + 1);
  for (let i = 1; i < order.length; i++) {
    const l = order[i]!;
    const kind = l.getClassName();
    const cfg = l.getConfig();
    const x = resolve(inputsOf(l)[0]!);
    if (kind === 'ZeroPadding2D') {
      const [[t, b], [le, r]] = normalizePadding(cfg.padding);
      const [h, w] = sizes.of(x);
      sizes.set(l.name, [h + t + b, w + le + r]);
      ops.push({ kind: 'pad', name: l.name, input: x, pads: [t, b, le, r] });
      alias.set(l.name, l.name);
    } else if (kind === 'Conv2D' || kind === 'DepthwiseConv2D') {
      i = layersConv(order, i, x, inputsOf, sizes, weights, ops, alias);
    } else if (kind === 'Add') {
      const [a, c] = inputsOf(l).map(resolve);
      sizes.set(l.name, sizes.of(a!));
      ops.push({ kind: 'add', name: l.name, inputs: [a!, c!] });
      alias.set(l.name, l.name);
    } else if (kind === 'ReLU') {
      sizes.set(l.name, sizes.of(x));
      ops.push({ kind: 'relu', name: l.name, input: x, act: reluAct(l, unsupported) });
      alias.set(l.name, l.name);
    } else {
      unsupported(`layer ${kind} ('${l.name}')`);
    }
  }
  return { input: first.name, ops, output: resolve(order[end]!.name), weights };
}

function normalizePadding(p: unknown): [[number, number], [number, number]] {
  if (typeof p === 'number') return [[p, p], [p, p]];
  const [a, b] = p as [number | [number, number], number | [number, number]];
  return typeof a === 'number' ? [[a, a], [b as number, b as number]] : [a, b as [number, number]];
}

/** A Conv2D/DepthwiseConv2D with a following BatchNormalization and ReLU folded in; returns the last layer index used. */
function layersConv(
  order: KerasLayer[],
  i: number,
  x: string,
  inputsOf: (l: KerasLayer) => string[],
  sizes: Sizes,
  weights: Map<string, Weight>,
  ops: NetOp[],
  alias: Map<string, string>,
): number {
  const l = order[i]!;
  const cfg = l.getConfig();
  const depthwise = l.getClassName() === 'DepthwiseConv2D';
  const stride = ((cfg.strides as number[] | undefined) ?? [1, 1]) as [number, number];
  if (((cfg.dilationRate ?? cfg.dilation_rate ?? [1, 1]) as number[]).some((d) => d !== 1)) unsupported(`'${l.name}' is dilated`);
  const act0 = (cfg.activation as string | undefined) ?? 'linear';
  if (act0 !== 'linear') unsupported(`'${l.name}' has a fused ${act0} activation`);
  const [w, b] = l.getWeights();
  const { bn, act, out, last } = foldedChain(order, i, inputsOf, (relu) => reluAct(relu, unsupported));
  const [kernel, bias] = foldBatchNorm(w!, b, bn, depthwise);
  const [kName, bName] = [`${l.name}/folded_kernel`, `${l.name}/folded_bias`];
  weights.set(kName, { shape: kernel.shape, data: Float32Array.from(kernel.dataSync() as Float32Array) });
  weights.set(bName, { shape: bias.shape, data: Float32Array.from(bias.dataSync() as Float32Array) });
  tf.dispose([kernel, bias]);
  const pads = sizes.window(out, x, [w!.shape[0]!, w!.shape[1]!], stride, cfg.padding === 'same');
  ops.push({ kind: 'conv', name: out, input: x, kernel: kName, bias: bName, act, stride, pads, depthwise });
  alias.set(out, out);
  return last;
}
