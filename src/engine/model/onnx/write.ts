// Writes a Network, its input normalization and a dense head as one ONNX model,
// encoded with onnx-proto (the ONNX protobuf schema compiled by protobufjs).
//
// Contract of an exported model: input `image` uint8 [n, height, width, 3], decoded
// RGB of any size (NHWC, as decoders and canvases hold images); the graph resizes it
// as edgetune does (bilinear, half-pixel centres, aspect ratio not kept) and
// normalizes it. Output `probabilities` float32 [n, classes]. Inside, the graph
// transposes once to NCHW, ONNX's convolution layout.
import { EdgetuneError } from '../../../errors.js';
import type { Network, NetOp, Weight } from '../network.js';
import type { Range } from '../quantize/int8.js';
import { attr, GraphBuilder, onnx } from './graph-builder.js';
import { Qdq } from './qdq.js';

/**
 * IR version 8 with opset 18: the newest pair this schema (ONNX 1.10's protobuf,
 * whose messages later IR versions only extend) can state, and run by every
 * ONNX Runtime 1.14 or later.
 */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 18;

export interface OnnxModelInput {
  network: Network;
  inputSize: readonly [number, number];
  /**
   * With it, the input is `image` (decoded uint8 RGB of any size) and the model
   * resizes and normalizes; without it, the input is `input`, float32 already
   * resized and normalized (the engine's own backbone runs).
   */
  normalization?: { mean: readonly number[]; std: readonly number[] };
  /**
   * Dense layers [kernel [in, out], bias [out]], ReLU between them, softmax after
   * the last: the output is `probabilities`. Without a head, it is `features` [n, d].
   */
  head?: { kernel: Weight; bias: Weight }[];
  /** A network value (a cut point) also given as the output `prefix`, NHWC. */
  prefix?: string;
  /** Without a head: whether to output `features` (false for a prefix-only model). @default true */
  features?: boolean;
  /** int8 (QDQ) with these calibrated ranges of every network value; float32 without. */
  int8?: { ranges: Map<string, Range> };
  /** Stored as the model's metadata_props (labels, preprocessing, provenance). */
  metadata: Record<string, string>;
  producerVersion: string;
}

/** TensorFlow kernel layouts to ONNX's OIHW: HWIO -> OIHW; depthwise HWC1 -> (C*1)1HW. */
function toOIHW(w: Weight, depthwise: boolean): Weight {
  const [kh, kw, ci, co] = w.shape as [number, number, number, number];
  const [o, i] = depthwise ? [ci * co, 1] : [co, ci];
  const out = new Float32Array(w.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < ci; c++)
        for (let k = 0; k < co; k++) {
          const src = ((y * kw + x) * ci + c) * co + k;
          const dst = depthwise ? ((c * co + k) * kh + y) * kw + x : ((k * ci + c) * kh + y) * kw + x;
          out[dst] = w.data[src]!;
        }
  return { shape: [o, i, kh, kw], data: out };
}

/** Emits one network op; returns the name of its output. */
function emit(g: GraphBuilder, op: NetOp, weights: Map<string, Weight>, at: (n: string) => string, qdq: Qdq | null): string {
  switch (op.kind) {
    case 'conv': {
      const k = weights.get(op.kernel)!;
      const w = toOIHW(k, op.depthwise);
      const b = weights.get(op.bias)!;
      const [t, bottom, l, r] = op.pads;
      const attrs = [
        attr.ints('kernel_shape', w.shape.slice(2)),
        attr.ints('strides', op.stride),
        attr.ints('pads', [t, l, bottom, r]),
        attr.int('group', op.depthwise ? k.shape[2]! : 1),
      ];
      const params = qdq ? qdq.conv(op.input, op.kernel, w, op.bias, b) : { kernel: g.float(op.kernel, w.shape, w.data), bias: g.float(op.bias, b.shape, b.data) };
      const y = g.node('Conv', `${op.name}/conv`, [at(op.input), params.kernel, params.bias], attrs);
      return g.activate(y, op.act);
    }
    case 'pad': {
      const [t, b, l, r] = op.pads;
      const pads = g.int64(`${op.name}/pads`, [0, 0, t, l, 0, 0, b, r]);
      return g.node('Pad', op.name, [at(op.input), pads]);
    }
    case 'add':
      return g.node('Add', op.name, [at(op.inputs[0]), at(op.inputs[1])]);
    case 'scalar': {
      const v = weights.get(op.value)!;
      // A per-channel constant broadcasts over NCHW as [c, 1, 1].
      const shape = v.shape.length === 1 && v.shape[0]! > 1 ? [v.shape[0]!, 1, 1] : v.shape;
      const c = g.float(op.value, shape, v.data);
      return g.node(op.op, op.name, op.constFirst ? [c, at(op.input)] : [at(op.input), c]);
    }
    case 'relu':
      return g.activate(at(op.input), op.act);
    case 'identity':
      return g.node('Identity', op.name, [at(op.input)]);
    case 'meanpool': {
      const pooled = g.node('GlobalAveragePool', `${op.name}/gap`, [at(op.input)]);
      return g.node('Flatten', op.name, [pooled], [attr.int('axis', 1)]);
    }
  }
}

/** The ONNX model's bytes. */
export function writeOnnx(m: OnnxModelInput): Uint8Array {
  const g = new GraphBuilder();
  const inputName = m.normalization ? 'image' : 'input';
  const x = m.normalization ? g.node('Cast', 'edgetune/float', [inputName], [attr.int('to', onnx.TensorProto.DataType.FLOAT)]) : inputName;
  const nchw = g.node('Transpose', 'edgetune/nchw', [x], [attr.ints('perm', [0, 3, 1, 2])]);
  // Every op reads its inputs through `at`: a network name maps to the ONNX output holding it.
  const qdq = m.int8 ? new Qdq(g, m.int8.ranges) : null;
  const first = m.normalization ? normalize(g, resize(g, nchw, m.inputSize), m.normalization) : nchw;
  const outputs = new Map<string, string>([[m.network.input, qdq ? qdq.activation(m.network.input, first) : first]]);
  const at = (n: string) => outputs.get(n) ?? n;
  for (const op of m.network.ops) {
    const y = emit(g, op, m.network.weights, at, qdq);
    // Every backbone value is quantized except the pooled features, which feed the float head.
    if (!qdq || op.kind === 'meanpool') outputs.set(op.name, y);
    else if (op.kind === 'identity') {
      qdq.same(op.name, op.input);
      outputs.set(op.name, y);
    } else outputs.set(op.name, qdq.activation(op.name, y));
  }
  const [h, w] = m.inputSize;
  const graphOutputs = [];
  if (m.head) {
    const classes = denseHead(g, at(m.network.output), m.head);
    graphOutputs.push({ name: 'probabilities', type: tensorType(['n', classes]) });
  } else if (m.features !== false) {
    g.node('Identity', 'edgetune/features', [at(m.network.output)], [], 'features');
    graphOutputs.push({ name: 'features', type: tensorType(['n', 'd']) });
  }
  if (m.prefix) {
    if (!outputs.has(m.prefix)) throw new EdgetuneError('INTERNAL', `'${m.prefix}' is not a value of the backbone's network`);
    g.node('Transpose', 'edgetune/prefix', [at(m.prefix)], [attr.ints('perm', [0, 2, 3, 1])], 'prefix');
    graphOutputs.push({ name: 'prefix', type: tensorType(['n', 'h', 'w', 'c']) });
  }
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'edgetune',
    producerVersion: m.producerVersion,
    graph: {
      name: 'edgetune',
      node: g.nodes,
      initializer: g.initializers,
      input: [m.normalization ? { name: inputName, type: tensorType(['n', 'height', 'width', 3], 'uint8') } : { name: inputName, type: tensorType(['n', h, w, 3]) }],
      output: graphOutputs,
    },
    metadataProps: Object.entries(m.metadata).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

function tensorType(dims: (number | string)[], elem: 'float' | 'uint8' = 'float') {
  return {
    tensorType: {
      elemType: elem === 'float' ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.UINT8,
      shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  };
}

/**
 * Any-size NCHW pixels to the backbone's size, exactly as edgetune's
 * tf.image.resizeBilinear(x, size, alignCorners false, halfPixelCenters true):
 * linear, half_pixel, no antialiasing, height and width scaled independently.
 */
function resize(g: GraphBuilder, x: string, [h, w]: readonly [number, number]): string {
  // sizes = [n, c] of the input followed by [h, w]: the 4-d form every Resize version states (no `axes`, new in opset 18).
  const shape = g.node('Shape', 'edgetune/resize/shape', [x]);
  const nc = g.node('Slice', 'edgetune/resize/nc', [shape, g.int64('edgetune/resize/start', [0]), g.int64('edgetune/resize/end', [2])]);
  const sizes = g.node('Concat', 'edgetune/resize/sizes', [nc, g.int64('edgetune/resize/hw', [h, w])], [attr.int('axis', 0)]);
  const attrs = [attr.string('mode', 'linear'), attr.string('coordinate_transformation_mode', 'half_pixel')];
  return g.node('Resize', 'edgetune/resize', [x, '', '', sizes], attrs);
}

/** x * (1 / (255 * std)) - mean / std, per channel of NCHW pixels. */
function normalize(g: GraphBuilder, x: string, { mean, std }: { mean: readonly number[]; std: readonly number[] }): string {
  const scale = g.float('edgetune/norm/scale', [1, 3, 1, 1], Float32Array.from(std, (s) => 1 / (255 * s)));
  const offset = g.float('edgetune/norm/offset', [1, 3, 1, 1], Float32Array.from(mean, (mu, i) => mu / std[i]!));
  return g.node('Sub', 'edgetune/norm/sub', [g.node('Mul', 'edgetune/norm/mul', [x, scale]), offset]);
}

/** Gemm layers with ReLU between, then softmax into `probabilities`; returns the class count. */
function denseHead(g: GraphBuilder, features: string, head: { kernel: Weight; bias: Weight }[]): number {
  let x = features;
  head.forEach((layer, i) => {
    const k = g.float(`edgetune/dense${i}/kernel`, layer.kernel.shape, layer.kernel.data);
    const b = g.float(`edgetune/dense${i}/bias`, layer.bias.shape, layer.bias.data);
    x = g.node('Gemm', `edgetune/dense${i}`, [x, k, b]);
    if (i < head.length - 1) x = g.node('Relu', `edgetune/dense${i}/relu`, [x]);
  });
  g.node('Softmax', 'edgetune/softmax', [x], [attr.int('axis', 1)], 'probabilities');
  return head[head.length - 1]!.bias.shape[0]!;
}
