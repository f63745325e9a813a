// Planning the trainable tail of a graph backbone: where to cut, and the ops
// (1x1 and depthwise convolutions, pads, adds, pooling) that rebuild what follows.
import { EdgetuneError } from '../../errors.js';
import { ancestorsOf, cutPoints, ref, type GraphNode } from './graph.js';

export type Act = 'none' | 'relu' | 'relu6';
export type Padding = 'same' | 'valid';

/** One op of the rebuilt tail, reading the outputs of earlier ops by node name. */
export type TailOp =
  | { kind: 'conv1x1'; name: string; input: string; kernel: string; bias: string; act: Act }
  /** A regular k x k convolution (the stem, in a full fine-tune). */
  | { kind: 'conv'; name: string; input: string; kernel: string; bias: string; act: Act; stride: number; padding: Padding }
  /** x (op) a frozen constant: a graph's in-graph input normalization. */
  | { kind: 'affine'; name: string; input: string; op: 'mul' | 'sub' | 'add'; constant: string }
  | { kind: 'depthwise'; name: string; input: string; kernel: string; bias: string; act: Act; stride: number; padding: Padding }
  | { kind: 'pad'; name: string; input: string; pads: [[number, number], [number, number]] }
  | { kind: 'add'; name: string; inputs: [string, string] }
  | { kind: 'meanpool'; name: string; input: string }
  | { kind: 'identity'; name: string; input: string };

/** Blocks to unfreeze: a count of trailing bottleneck blocks, or 'all' (every block and the stem). */
export type TailDepth = number | 'all';

export interface TailPlan {
  /** The frozen prefix's output node: its activations are what the tail (and the cache) sees. */
  cutNode: string;
  /** Whether the cut is the model's input (depth 'all'): nothing before the tail is frozen. */
  fromInput: boolean;
  /** Frozen constants the ops read (not trained). */
  constNodes: string[];
  ops: TailOp[];
  /** Weight (Const) node names the tail trains, kernels and biases. */
  weightNodes: string[];
}

const NO_GRAD = 'partial or full strategy';
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
 * `blocks = 0` leaves only the final 1x1 convolution trainable. `avgPool`: the
 * manifest pools the feature node's map (`pooling: 'avg'`), so the tail does too.
 *
 * @throws EdgetuneError MODEL_INCOMPATIBLE when an op in the tail cannot be rebuilt.
 */
export function planTail(nodes: GraphNode[], featureNode: string, blocks: TailDepth, shapes: Map<string, number[]>, avgPool = false): TailPlan {
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
  const input = order.findIndex((n) => n.op === 'Placeholder');
  if (blocks === 'all' && input < 0) incompatible('the graph has no input placeholder');
  if (blocks !== 'all' && cuts.length <= blocks) incompatible(`it has ${cuts.length - 1} blocks before its last 1x1 convolution, ${blocks} requested`);
  const cut = blocks === 'all' ? input : cuts[cuts.length - 1 - blocks]!;
  const cutNode = order[cut]!.name;
  const ops: TailOp[] = [];
  const weightNodes: string[] = [];
  const constNodes: string[] = [];
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
      const pointwise = n.op === '_FusedConv2D' && ks?.[0] === 1 && ks?.[1] === 1;
      const [, sh, sw] = ints(n, 'strides');
      const stride = sh ?? 1;
      if (ints(n, 'dilations').some((d) => d !== 1)) incompatible(`'${n.name}' is dilated`);
      // Strided 1x1 convolutions do not occur in MobileNets; strided depthwise ones start a stage, a strided regular one is the stem.
      if (stride !== (sw ?? 1) || (stride !== 1 && pointwise)) incompatible(`'${n.name}' has strides [${ints(n, 'strides')}]`);
      const padding = decode(n.attr?.padding?.s);
      if (!pointwise && padding !== 'SAME' && padding !== 'VALID') incompatible(`'${n.name}' uses ${padding} padding`);
      const pad: Padding = padding === 'VALID' ? 'valid' : 'same';
      weightNodes.push(k, b);
      if (pointwise) ops.push({ kind: 'conv1x1', name: n.name, input: x!, kernel: k, bias: b, act });
      else if (n.op === '_FusedConv2D') ops.push({ kind: 'conv', name: n.name, input: x!, kernel: k, bias: b, act, stride, padding: pad });
      else ops.push({ kind: 'depthwise', name: n.name, input: x!, kernel: k, bias: b, act, stride, padding: pad });
    } else if ((n.op === 'Mul' || n.op === 'Sub' || n.op === 'AddV2' || n.op === 'Add') && dataInputs(n).some(isConst)) {
      // The input's normalization (x * scale - offset): constant operands, one data input.
      const [a, c] = dataInputs(n);
      const [data, constant] = isConst(a!) ? [c!, a!] : [a!, c!];
      if (n.op === 'Sub' && isConst(a!)) incompatible(`'${n.name}' subtracts its input from a constant`);
      needKnown(data);
      if ((shapes.get(constant) ?? []).reduce((p, d) => p * d, 1) !== 1) incompatible(`'${n.name}' reads a non-scalar constant`);
      constNodes.push(constant);
      ops.push({ kind: 'affine', name: n.name, input: data, op: n.op === 'Mul' ? 'mul' : n.op === 'Sub' ? 'sub' : 'add', constant });
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
  if (avgPool) ops.push({ kind: 'meanpool', name: `${featureNode}/pool`, input: featureNode });
  return { cutNode, fromInput: blocks === 'all', constNodes, ops, weightNodes };
}
