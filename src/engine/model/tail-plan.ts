// Planning the trainable tail of a graph backbone: where to cut, and the ops
// (1x1 and depthwise convolutions, pads, adds, pooling) that rebuild what follows.
import { EdgetuneError } from '../../errors.js';
import { ancestorsOf, cutPoints, ref, type GraphNode } from './graph.js';

export type Act = 'none' | 'relu' | 'relu6';
export type Padding = 'same' | 'valid';

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

export function incompatible(msg: string): never {
  throw new EdgetuneError('MODEL_INCOMPATIBLE', `Cannot use the ${NO_GRAD} with this backbone: ${msg}`);
}


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
  const needed = ancestorsOf(nodes, featureNode);
  if (!needed.has(featureNode)) incompatible(`feature node '${featureNode}' is not in the graph`);
  const order = nodes.filter((n) => needed.has(n.name) && n.op !== 'Const');
  const cuts = cutPoints(
    order,
    (n) => n.name,
    (n) => (n.input ?? []).map(ref),
    (c) => {
      const k = c.op === '_FusedConv2D' ? shapes.get(ref(c.input![1]!)) : undefined;
      // An expanding 1x1 conv: [1, 1, cin, cout] with cout > cin.
      return !!k && k[0] === 1 && k[1] === 1 && k[3]! > k[2]!;
    },
  );
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
