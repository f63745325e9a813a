// The trainable tail of a frozen graph backbone, for the 'partial' strategy.
//
// A tfjs GraphModel has no trainable variables, so the last blocks are rebuilt
// as tfjs ops initialized from the graph's own (BatchNorm-folded) weights. The
// ops have gradients on every backend: 1x1 convolutions run as matMul
// (tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter), depthwise ones as
// tf.depthwiseConv2d, whose gradient kernels edgetune registers for WASM.
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { EdgetuneError } from '../../errors.js';
import type { Backbone } from './backbone.js';
import { registerWasmTrainingKernels, relu6 } from '../kernels/wasm-kernels.js';

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { s?: string; i?: string; list?: { s?: string[]; i?: string[] } }>;
}

type Act = 'none' | 'relu' | 'relu6';
type Padding = 'same' | 'valid';

/** One op of the rebuilt tail, reading the outputs of earlier ops by node name. */
export type TailOp =
  | { kind: 'conv1x1'; name: string; input: string; kernel: string; bias: string; act: Act }
  | { kind: 'depthwise'; name: string; input: string; kernel: string; bias: string; act: Act; stride: number; padding: Padding }
  | { kind: 'pad'; name: string; input: string; pads: [[number, number], [number, number]] }
  | { kind: 'add'; name: string; inputs: [string, string] }
  | { kind: 'meanpool'; name: string; input: string }
  | { kind: 'identity'; name: string; input: string };

export interface TailPlan {
  /** The frozen prefix's output node: its activations are what the tail (and the cache) sees. */
  cutNode: string;
  ops: TailOp[];
  /** Weight (Const) node names the tail trains, kernels and biases. */
  weightNodes: string[];
}

const NO_GRAD = 'partial strategy';
const decode = (s?: string) => (s ? atob(s) : '');
const ints = (n: GraphNode, k: string) => (n.attr?.[k]?.list?.i ?? []).map(Number);

function incompatible(msg: string): never {
  throw new EdgetuneError('MODEL_INCOMPATIBLE', `Cannot use the ${NO_GRAD} with this backbone: ${msg}`);
}

/** Strips the output index (':1') and control marker ('^') from an input reference. */
const ref = (s: string) => s.replace(/^\^/, '').replace(/:\d+$/, '');

/**
 * Plans the tail of a graph model: the last `blocks` bottleneck blocks plus
 * everything after them up to `featureNode`. A cut point is a tensor that every
 * later path goes through (no residual skips over it) and that feeds an
 * expanding 1x1 convolution: in MobileNetV2 these are the blocks' inputs, and
 * `blocks = 0` leaves only the final 1x1 convolution trainable.
 *
 * @throws EdgetuneError MODEL_INCOMPATIBLE when an op in the tail cannot be rebuilt.
 */
export function planTail(nodes: GraphNode[], featureNode: string, blocks: number, shapes: Map<string, number[]>): TailPlan {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const isConst = (name: string) => byName.get(name)?.op === 'Const';
  // Ancestors of the feature node, in the file's (topological) order.
  const needed = new Set<string>();
  const stack = [featureNode];
  while (stack.length) {
    const n = byName.get(stack.pop()!);
    if (!n || needed.has(n.name)) continue;
    needed.add(n.name);
    for (const i of n.input ?? []) stack.push(ref(i));
  }
  if (!needed.has(featureNode)) incompatible(`feature node '${featureNode}' is not in the graph`);
  const order = nodes.filter((n) => needed.has(n.name) && n.op !== 'Const');
  const pos = new Map(order.map((n, i) => [n.name, i]));
  // lastUse[i]: the latest position that reads node i's output.
  const lastUse = order.map(() => -1);
  order.forEach((n, j) => n.input?.forEach((i) => pos.has(ref(i)) && (lastUse[pos.get(ref(i))!] = Math.max(lastUse[pos.get(ref(i))!]!, j))));
  // Articulation points: nothing produced before node i is read after it.
  const cuts: number[] = [];
  let reach = -1;
  order.forEach((n, i) => {
    if (reach <= i) {
      const consumer = order.find((c) => c.input?.some((x) => ref(x) === n.name));
      const k = consumer?.op === '_FusedConv2D' ? shapes.get(ref(consumer.input![1]!)) : undefined;
      // An expanding 1x1 conv: [1, 1, cin, cout] with cout > cin.
      if (k && k[0] === 1 && k[1] === 1 && k[3]! > k[2]!) cuts.push(i);
    }
    reach = Math.max(reach, lastUse[i]!);
  });
  if (cuts.length <= blocks) incompatible(`it has ${cuts.length - 1} blocks before its last 1x1 convolution, ${blocks} requested`);
  const cut = cuts[cuts.length - 1 - blocks]!;
  const cutNode = order[cut]!.name;
  const ops: TailOp[] = [];
  const weightNodes: string[] = [];
  const known = new Set([cutNode]);
  const dataInputs = (n: GraphNode) => (n.input ?? []).filter((i) => !i.startsWith('^')).map(ref);
  for (const n of order.slice(cut + 1)) {
    const [x, k, b] = dataInputs(n);
    const needKnown = (...names: (string | undefined)[]) =>
      names.forEach((nm) => nm && !known.has(nm) && incompatible(`'${n.name}' reads '${nm}', which is not computed by the tail`));
    if (n.op === '_FusedConv2D' || n.op === 'FusedDepthwiseConv2dNative') {
      needKnown(x);
      const fused = (n.attr?.fused_ops?.list?.s ?? []).map(decode);
      if (fused[0] !== 'BiasAdd' || fused.length > 2 || !k || !b || !isConst(k) || !isConst(b)) incompatible(`'${n.name}' fuses [${fused}]`);
      const act: Act = fused[1] === 'Relu6' ? 'relu6' : fused[1] === 'Relu' ? 'relu' : fused[1] ? incompatible(`activation ${fused[1]}`) : 'none';
      const ks = shapes.get(k);
      if (n.op === '_FusedConv2D' && (ks?.[0] !== 1 || ks?.[1] !== 1)) incompatible(`'${n.name}' is not a 1x1 convolution`);
      const [, sh, sw] = ints(n, 'strides');
      const stride = sh ?? 1;
      if (ints(n, 'dilations').some((d) => d !== 1)) incompatible(`'${n.name}' is dilated`);
      // Strided 1x1 convolutions do not occur in MobileNets; strided depthwise ones start a stage.
      if (stride !== (sw ?? 1) || (stride !== 1 && n.op === '_FusedConv2D')) incompatible(`'${n.name}' has strides [${ints(n, 'strides')}]`);
      const padding = decode(n.attr?.padding?.s);
      if (n.op === 'FusedDepthwiseConv2dNative' && padding !== 'SAME' && padding !== 'VALID') incompatible(`'${n.name}' uses ${padding} padding`);
      weightNodes.push(k, b);
      if (n.op === '_FusedConv2D') ops.push({ kind: 'conv1x1', name: n.name, input: x!, kernel: k, bias: b, act });
      else ops.push({ kind: 'depthwise', name: n.name, input: x!, kernel: k, bias: b, act, stride, padding: padding === 'VALID' ? 'valid' : 'same' });
    } else if (n.op === 'AddV2' || n.op === 'Add') {
      const [a, c] = dataInputs(n);
      needKnown(a, c);
      ops.push({ kind: 'add', name: n.name, inputs: [a!, c!] });
    } else if (n.op === 'AvgPool' || n.op === 'Mean') {
      needKnown(x);
      ops.push({ kind: 'meanpool', name: n.name, input: x! });
    } else if (n.op === 'Squeeze' || n.op === 'Identity') {
      needKnown(x);
      ops.push({ kind: 'identity', name: n.name, input: x! });
    } else {
      incompatible(`op ${n.op} ('${n.name}') is not supported in a trainable tail`);
    }
    known.add(n.name);
  }
  return { cutNode, ops, weightNodes };
}

/**
 * The rebuilt tail with its own trainable copy of the graph's weights.
 * `apply` maps prefix activations [n, h, w, c] to the backbone's feature vector.
 */
export class Tail {
  readonly variables: tf.Variable[];
  /** Indices of kernels in `variables` (weight decay applies to these, not to biases). */
  readonly kernelIdx: Set<number>;
  private readonly byNode: Map<string, tf.Variable>;

  private constructor(
    readonly plan: TailPlan,
    /** Bottleneck blocks unfrozen besides the final conv. */
    readonly blocks: number,
    weights: Map<string, tf.Tensor>,
  ) {
    registerWasmTrainingKernels();
    // A variable shares the graph's weight data until its first assign: no copy.
    this.byNode = new Map(plan.weightNodes.map((n) => [n, tf.variable(weights.get(n)!, true)]));
    this.variables = [...this.byNode.values()];
    this.kernelIdx = new Set(plan.weightNodes.flatMap((n, i) => (i % 2 === 0 ? [i] : [])));
  }

  /** Builds the tail of `backbone` (a graph backbone) from its loaded weights. */
  /** Shape [h, w, c] of one view's prefix activations (set by `fromBackbone`'s check). */
  prefixShape: [number, number, number] = [0, 0, 0];

  static async fromBackbone(backbone: Backbone, blocks: number): Promise<Tail> {
    if (backbone.manifest.format === 'layers') {
      const { plan, weights } = planLayersTail(backbone.model as LayersModel, backbone.manifest.featureNode, blocks, backbone.manifest.pooling === 'avg');
      const tail = new Tail(plan, blocks, weights);
      // The variables hold the folded values now.
      tf.dispose([...weights.values()]);
      return Tail.checked(tail, backbone);
    }
    const topo = backbone.artifacts.modelJson.modelTopology as { node: GraphNode[] };
    const shapes = new Map(backbone.artifacts.modelJson.weightsManifest.flatMap((g) => g.weights).map((w) => [w.name, w.shape]));
    const plan = planTail(topo.node, backbone.manifest.featureNode, blocks, shapes);
    const graphWeights = (backbone.model as GraphModel).weights;
    const weights = new Map<string, tf.Tensor>();
    for (const n of plan.weightNodes) {
      const t = graphWeights[n]?.[0];
      if (!t) incompatible(`weight '${n}' is missing from the loaded graph`);
      weights.set(n, t);
    }
    return Tail.checked(new Tail(plan, blocks, weights), backbone);
  }

  private static async checked(tail: Tail, backbone: Backbone): Promise<Tail> {
    try {
      await tail.check(backbone);
    } catch (err) {
      tail.dispose();
      throw err;
    }
    return tail;
  }

  /**
   * Runs the graph and the rebuilt tail on the same random input: they must agree
   * (max abs difference 1e-3), else the rebuild misread the graph.
   */
  private async check(backbone: Backbone): Promise<void> {
    const [h, w] = backbone.manifest.inputSize;
    let shape: number[] = [];
    const d = tf.tidy(() => {
      const { mean, std } = backbone.manifest.normalization;
      const x = tf.div(tf.sub(tf.randomUniform([2, h, w, 3], 0, 1, 'float32', 7), mean), std) as tf.Tensor4D;
      const { prefix, embedding } = backbone.embedWithPrefix(x, this.plan.cutNode);
      shape = prefix.shape.slice(1);
      return tf.max(tf.abs(tf.sub(this.apply(prefix), embedding)));
    });
    const diff = (await d.data())[0]!;
    d.dispose();
    if (!(diff <= 1e-3)) incompatible(`the rebuilt tail differs from the graph by ${diff} (max abs) on a random input`);
    this.prefixShape = shape as [number, number, number];
  }

  /** Feature vectors [n, d] from prefix activations [n, h, w, c]. Call inside tf.tidy. */
  apply(prefix: tf.Tensor4D): tf.Tensor2D {
    const out = new Map<string, tf.Tensor>([[this.plan.cutNode, prefix]]);
    let last: tf.Tensor = prefix;
    for (const op of this.plan.ops) {
      const get = (n: string) => out.get(n)!;
      switch (op.kind) {
        case 'conv1x1':
          // The prefix is data, not a function of any weight: its gradient is never used.
          last = activate(
            conv1x1(get(op.input) as tf.Tensor4D, this.byNode.get(op.kernel)!, this.byNode.get(op.bias)!, op.input === this.plan.cutNode),
            op.act,
          );
          break;
        case 'depthwise':
          last = activate(depthwise(get(op.input) as tf.Tensor4D, this.byNode.get(op.kernel)!, this.byNode.get(op.bias)!, op.stride, op.padding), op.act);
          break;
        case 'pad':
          last = tf.pad(get(op.input), [[0, 0], ...op.pads, [0, 0]]);
          break;
        case 'add':
          last = tf.add(get(op.inputs[0]), get(op.inputs[1]));
          break;
        case 'meanpool':
          last = tf.mean(get(op.input), [1, 2]);
          break;
        case 'identity':
          last = get(op.input);
          break;
      }
      out.set(op.name, last);
    }
    return (last.rank === 2 ? last : tf.reshape(last, [last.shape[0]!, -1])) as tf.Tensor2D;
  }

  /** Current weights by graph node name (for export and for the merged model). */
  weights(): { name: string; tensor: tf.Tensor }[] {
    return [...this.byNode].map(([name, tensor]) => ({ name, tensor }));
  }

  /** Overwrites weights by node name (import); shapes must match. */
  load(weights: Map<string, tf.Tensor>): void {
    for (const [name, v] of this.byNode) {
      const w = weights.get(name);
      if (!w) throw new EdgetuneError('MODEL_LOAD_FAILED', `Tail weight '${name}' is missing from the model files`);
      if (w.shape.join() !== v.shape.join()) {
        throw new EdgetuneError('MODEL_INCOMPATIBLE', `Tail weight '${name}' has shape [${w.shape}], the backbone's is [${v.shape}]`);
      }
    }
    for (const [name, v] of this.byNode) v.assign(weights.get(name)!);
  }

  snapshot(): tf.Tensor[] {
    return this.variables.map((v) => tf.keep(v.clone()));
  }

  restore(weights: tf.Tensor[]): void {
    this.variables.forEach((v, i) => v.assign(weights[i]!));
  }

  dispose(): void {
    tf.dispose(this.variables);
  }
}

function activate(x: tf.Tensor, act: Act): tf.Tensor {
  return act === 'relu6' ? relu6(x) : act === 'relu' ? tf.relu(x) : x;
}

/**
 * matMul whose gradient transposes explicitly: tfjs-backend-wasm's matMul with
 * transposeA/transposeB (what the stock gradient uses) measured ~13x slower
 * than transpose + plain matMul on a [1568, 448] x [448, 1792] product.
 */
const matMulT = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor2D, tf.transpose(saved[1]!) as tf.Tensor2D),
      tf.matMul(tf.transpose(saved[0]!) as tf.Tensor2D, dy as tf.Tensor2D),
    ],
  };
}) as never) as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/**
 * matMul(a, b) differentiable in `b` only: for the tail's first layer, whose input is
 * the cached prefix, it skips dy x b^T, the largest product of that layer's backward
 * (a customGrad computes every input's gradient, used or not).
 */
function matMulConstA(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad(((w: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a]);
    return {
      value: tf.matMul(a, w as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.matMul(tf.transpose(saved[0]!) as tf.Tensor2D, dy as tf.Tensor2D),
    };
  }) as never) as unknown as (w: tf.Tensor2D) => tf.Tensor2D;
  return f(b);
}

/** A 1x1 convolution as one matMul over all pixels; `constInput`: no gradient flows to `x`. */
function conv1x1(x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor, constInput = false): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const k = kernel.shape[3]!;
  const mm = constInput ? matMulConstA : matMulT;
  const y = tf.add(mm(tf.reshape(x, [n * h * w, c]), tf.reshape(kernel, [c, k])), bias);
  return tf.reshape(y, [n, h, w, k]);
}

/**
 * A depthwise convolution with its bias: tf.depthwiseConv2d (XNNPACK on WASM),
 * whose gradients are tfjs' own on WebGPU and CPU and edgetune's on WASM
 * (`registerWasmTrainingKernels`). Padding follows TensorFlow's SAME (the extra
 * row/column at the bottom/right) or VALID, as the graph's op does.
 */
function depthwise(x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor, stride = 1, padding: Padding = 'same'): tf.Tensor4D {
  return tf.fused.depthwiseConv2d({ x, filter: kernel as tf.Tensor4D, strides: stride, pad: padding, bias });
}

// ---- Keras layers backbones (mobilenet_v2) ------------------------------------------

interface KerasLayer {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  getWeights(): tf.Tensor[];
  inboundNodes: { inboundLayers: { name: string }[] }[];
}

/**
 * The same tail for a Keras LayersModel: Conv2D/DepthwiseConv2D + BatchNormalization
 * (+ ReLU) are fused into one op with the BatchNorm folded into the kernel and bias,
 * exactly what the converter did for the graph model. Trainable `Conv2D` layers would
 * need conv gradients, which tfjs-backend-wasm lacks; the folded ops have them everywhere.
 */
export function planLayersTail(model: LayersModel, featureLayer: string, blocks: number, avgPool: boolean): { plan: TailPlan; weights: Map<string, tf.Tensor> } {
  const layers = model.layers as unknown as KerasLayer[];
  const idx = new Map(layers.map((l, i) => [l.name, i]));
  const inputsOf = (l: KerasLayer) => (l.inboundNodes[0]?.inboundLayers ?? []).map((x) => x.name);
  const end = idx.get(featureLayer);
  if (end === undefined) incompatible(`feature layer '${featureLayer}' is not in the model`);
  const order = layers.slice(0, end + 1);
  const lastUse = order.map(() => -1);
  order.forEach((l, j) => inputsOf(l).forEach((n) => idx.has(n) && (lastUse[idx.get(n)!] = Math.max(lastUse[idx.get(n)!]!, j))));
  const cuts: number[] = [];
  let reach = -1;
  order.forEach((l, i) => {
    if (reach <= i) {
      const consumer = order.find((c) => inputsOf(c).includes(l.name));
      const cfg = consumer?.getConfig();
      const k = consumer?.getClassName() === 'Conv2D' ? consumer.getWeights()[0] : undefined;
      if (k && cfg && k.shape[0] === 1 && k.shape[1] === 1 && k.shape[3]! > k.shape[2]!) cuts.push(i);
    }
    reach = Math.max(reach, lastUse[i]!);
  });
  if (cuts.length <= blocks) incompatible(`it has ${cuts.length - 1} blocks before its last 1x1 convolution, ${blocks} requested`);
  const cut = cuts[cuts.length - 1 - blocks]!;
  const cutNode = order[cut]!.name;
  // Each layer name resolves to the op output that holds its value (BN and ReLU fold into their conv).
  const alias = new Map<string, string>([[cutNode, cutNode]]);
  const resolve = (n: string) => alias.get(n) ?? incompatible(`'${n}' is read by the tail but computed before the cut`);
  const ops: TailOp[] = [];
  const weightNodes: string[] = [];
  const weights = new Map<string, tf.Tensor>();
  for (let i = cut + 1; i <= end; i++) {
    const l = order[i]!;
    const kind = l.getClassName();
    const cfg = l.getConfig();
    if (kind === 'ZeroPadding2D') {
      const p = cfg.padding as [[number, number], [number, number]] | [number, number] | number;
      const pads: [[number, number], [number, number]] = typeof p === 'number' ? [[p, p], [p, p]] : typeof p[0] === 'number' ? [[p[0], p[0]], [p[1] as number, p[1] as number]] : (p as [[number, number], [number, number]]);
      ops.push({ kind: 'pad', name: l.name, input: resolve(inputsOf(l)[0]!), pads });
      alias.set(l.name, l.name);
    } else if (kind === 'Conv2D' || kind === 'DepthwiseConv2D') {
      const strides = (cfg.strides as number[]) ?? [1, 1];
      const [w, b] = l.getWeights();
      const isDw = kind === 'DepthwiseConv2D';
      if (strides[0] !== strides[1] || (!isDw && strides[0] !== 1)) incompatible(`'${l.name}' has strides [${strides}]`);
      if (!isDw && (w!.shape[0] !== 1 || w!.shape[1] !== 1)) incompatible(`'${l.name}' is not a 1x1 convolution`);
      let out = l.name;
      const next = order[i + 1];
      const bn = next?.getClassName() === 'BatchNormalization' && inputsOf(next)[0] === l.name ? next : undefined;
      // Fresh tensors (clones share data): the caller disposes them once the tail's variables hold them.
      const [kernel, bias] = tf.tidy(() => {
        let k: tf.Tensor = w!.clone();
        let c: tf.Tensor = b ? b.clone() : tf.zeros([isDw ? w!.shape[2]! : w!.shape[3]!]);
        if (bn) {
          const [gamma, beta, mean, variance] = bn.getWeights();
          const scale = tf.div(gamma!, tf.sqrt(tf.add(variance!, (bn.getConfig().epsilon as number) ?? 1e-3)));
          k = isDw ? tf.mul(k, tf.reshape(scale, [1, 1, -1, 1])) : tf.mul(k, scale);
          c = tf.add(beta!, tf.mul(tf.sub(c, mean!), scale));
        }
        return [k, c];
      });
      if (bn) {
        out = bn.name;
        i++;
      }
      let act: Act = 'none';
      const after = order[i + 1];
      if (after?.getClassName() === 'ReLU' && inputsOf(after)[0] === out) {
        const c = after.getConfig();
        const max = (c.maxValue ?? c.max_value) as number | null | undefined;
        if (max !== 6 && max != null) incompatible(`'${after.name}' caps at ${max}`);
        act = max === 6 ? 'relu6' : 'relu';
        out = after.name;
        i++;
      }
      const [kName, bName] = [`${l.name}/folded_kernel`, `${l.name}/folded_bias`];
      weights.set(kName, kernel!).set(bName, bias!);
      weightNodes.push(kName, bName);
      const input = resolve(inputsOf(l)[0]!);
      const padding: Padding = cfg.padding === 'valid' ? 'valid' : 'same';
      ops.push(
        isDw
          ? { kind: 'depthwise', name: out, input, kernel: kName, bias: bName, act, stride: strides[0] ?? 1, padding }
          : { kind: 'conv1x1', name: out, input, kernel: kName, bias: bName, act },
      );
      alias.set(out, out);
    } else if (kind === 'Add') {
      const [a, c] = inputsOf(l).map(resolve);
      ops.push({ kind: 'add', name: l.name, inputs: [a!, c!] });
      alias.set(l.name, l.name);
    } else {
      incompatible(`layer ${kind} ('${l.name}') is not supported in a trainable tail`);
    }
  }
  const last = ops[ops.length - 1]!.name;
  if (avgPool) ops.push({ kind: 'meanpool', name: `${last}/pool`, input: last });
  return { plan: { cutNode, ops, weightNodes }, weights };
}
