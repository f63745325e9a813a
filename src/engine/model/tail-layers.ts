// The trainable tail of a Keras layers backbone (mobilenet_v2): the same ops as
// a graph backbone's tail, planned from the LayersModel's layers.
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { cutPoints } from './graph.js';
import { incompatible, type Act, type Padding, type TailDepth, type TailOp, type TailPlan } from './tail-plan.js';

export interface KerasLayer {
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
export function planLayersTail(model: LayersModel, featureLayer: string, blocks: TailDepth, avgPool: boolean): { plan: TailPlan; weights: Map<string, tf.Tensor> } {
  const layers = model.layers as unknown as KerasLayer[];
  const idx = new Map(layers.map((l, i) => [l.name, i]));
  const inputsOf = (l: KerasLayer) => (l.inboundNodes[0]?.inboundLayers ?? []).map((x) => x.name);
  const end = idx.get(featureLayer);
  if (end === undefined) incompatible(`feature layer '${featureLayer}' is not in the model`);
  const order = layers.slice(0, end + 1);
  const cut = blocks === 'all' ? order.findIndex((l) => l.getClassName() === 'InputLayer') : cutBefore(order, inputsOf, blocks);
  if (cut < 0) incompatible('the model has no input layer');
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
      const pointwise = !isDw && w!.shape[0] === 1 && w!.shape[1] === 1;
      if (strides[0] !== strides[1] || (pointwise && strides[0] !== 1)) incompatible(`'${l.name}' has strides [${strides}]`);
      if ([cfg.dilationRate ?? 1].flat().some((d) => d !== 1)) incompatible(`'${l.name}' is dilated`);
      const chain = foldedChain(order, i, inputsOf, (relu) => reluAct(relu, incompatible));
      const { bn, out } = chain;
      i = chain.last;
      // An activation inside the layer (Conv2D(activation='relu')) comes before any BatchNorm: only foldable without one.
      const own = (cfg.activation as string | undefined) ?? 'linear';
      if (own !== 'linear' && (bn || chain.act !== 'none')) incompatible(`'${l.name}' applies ${own} before a BatchNormalization or another activation`);
      const act: Act = own === 'linear' ? chain.act : own === 'relu' ? 'relu' : own === 'relu6' ? 'relu6' : incompatible(`'${l.name}' uses activation ${own}`);
      const [kernel, bias] = foldBatchNorm(w!, b, bn, isDw);
      const [kName, bName] = [`${l.name}/folded_kernel`, `${l.name}/folded_bias`];
      weights.set(kName, kernel!).set(bName, bias!);
      weightNodes.push(kName, bName);
      const input = resolve(inputsOf(l)[0]!);
      const padding: Padding = cfg.padding === 'valid' ? 'valid' : 'same';
      const stride = strides[0] ?? 1;
      ops.push(
        isDw
          ? { kind: 'depthwise', name: out, input, kernel: kName, bias: bName, act, stride, padding }
          : pointwise
            ? { kind: 'conv1x1', name: out, input, kernel: kName, bias: bName, act }
            : { kind: 'conv', name: out, input, kernel: kName, bias: bName, act, stride, padding },
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
  return { plan: { cutNode, fromInput: blocks === 'all', constNodes: [], ops, weightNodes }, weights };
}

/**
 * A convolution at `i` with the BatchNormalization and ReLU that directly follow
 * it (folded into it by the tail and the ONNX export): the BN layer, the
 * activation, the name of the chain's output, and the index of its last layer.
 */
export function foldedChain(order: KerasLayer[], i: number, inputsOf: (l: KerasLayer) => string[], actOf: (relu: KerasLayer) => Act) {
  const l = order[i]!;
  const next = order[i + 1];
  const bn = next?.getClassName() === 'BatchNormalization' && inputsOf(next)[0] === l.name ? next : undefined;
  let [out, last, act] = [bn?.name ?? l.name, bn ? i + 1 : i, 'none' as Act];
  const after = order[last + 1];
  if (after?.getClassName() === 'ReLU' && inputsOf(after)[0] === out) {
    act = actOf(after);
    out = after.name;
    last++;
  }
  return { bn, act, out, last };
}

/** ReLU or ReLU6 from a Keras ReLU layer's config; anything else is refused through `fail`. */
export function reluAct(l: KerasLayer, fail: (msg: string) => never): Act {
  const c = l.getConfig();
  const max = (c.maxValue ?? c.max_value) as number | null | undefined;
  if (max != null && max !== 6) fail(`'${l.name}' caps at ${max}`);
  if (c.negativeSlope || c.negative_slope || c.threshold) fail(`'${l.name}' is not a plain ReLU`);
  return max === 6 ? 'relu6' : 'relu';
}

/** The position of the cut `blocks` bottleneck blocks before the last 1x1 convolution. */
function cutBefore(order: KerasLayer[], inputsOf: (l: KerasLayer) => string[], blocks: number): number {
  const cuts = cutPoints(
    order,
    (l) => l.name,
    inputsOf,
    (c) => {
      const k = c.getClassName() === 'Conv2D' ? c.getWeights()[0] : undefined;
      return !!k && k.shape[0] === 1 && k.shape[1] === 1 && k.shape[3]! > k.shape[2]!;
    },
  );
  if (cuts.length <= blocks) incompatible(`it has ${cuts.length - 1} blocks before its last 1x1 convolution, ${blocks} requested`);
  return cuts[cuts.length - 1 - blocks]!;
}

/**
 * A convolution's kernel and bias with the following BatchNormalization folded
 * in, as the converter folds them for graph models. Fresh tensors (clones share
 * data): the caller disposes them once the tail's variables hold them.
 */
export function foldBatchNorm(w: tf.Tensor, b: tf.Tensor | undefined, bn: KerasLayer | undefined, depthwise: boolean): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    let k: tf.Tensor = w.clone();
    let c: tf.Tensor = b ? b.clone() : tf.zeros([depthwise ? w.shape[2]! : w.shape[3]!]);
    if (bn) {
      const [gamma, beta, mean, variance] = bn.getWeights();
      const scale = tf.div(gamma!, tf.sqrt(tf.add(variance!, (bn.getConfig().epsilon as number) ?? 1e-3)));
      k = depthwise ? tf.mul(k, tf.reshape(scale, [1, 1, -1, 1])) : tf.mul(k, scale);
      c = tf.add(beta!, tf.mul(tf.sub(c, mean!), scale));
    }
    return [k, c];
  });
}
