// Writes a Network, its input normalization and a dense head as one TFLite
// model: float32, or int8 from calibrated ranges (the head stays float32).
//
// Contract of an exported model: input `image` float32 [1, height, width, 3],
// RGB 0..255 already at the backbone's size (LiteRT.js compiles fixed shapes,
// so the resize stays outside: docs/exports.md has the exact one), one image at
// a time (LiteRT.js refuses a resizable batch). Output `probabilities`
// float32 [1, classes]. TFLite is NHWC like TensorFlow, so kernels only change
// layout: HWIO -> OHWI, depthwise HWC1 -> 1HWC, dense [in, out] -> [out, in].
import { EdgetuneError } from '../../../errors.js';
import type { Network, Weight } from '../network.js';
import type { Range } from '../quantize/int8.js';
import type { Dense } from '../trained-network.js';
import { Lowering } from './lowering.js';
import { Builtin, TensorType } from './model-builder.js';

export interface TfliteModelInput {
  network: Network;
  inputSize: readonly [number, number];
  normalization: { mean: readonly number[]; std: readonly number[] };
  head: Dense[];
  /** int8 with these calibrated ranges of every network value; float32 without. */
  int8?: { ranges: Map<string, Range> };
  /** Stored as JSON in the model's `edgetune` metadata entry. */
  metadata: Record<string, unknown>;
  description: string;
}

/** [rows, cols] -> [cols, rows]. */
function transpose2d(w: Weight): Float32Array {
  const [r, c] = w.shape as [number, number];
  const out = new Float32Array(w.data.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = w.data[i * c + j]!;
  return out;
}

/** x * (1 / (255 * std)) - mean / std, skipping the identity steps. */
function normalize(l: Lowering, image: number, { mean, std }: TfliteModelInput['normalization']): number {
  const g = l.g;
  let x = image;
  const shape = g.shapeOf(image);
  const scale = Float32Array.from(std, (s) => 1 / (255 * s));
  const offset = Float32Array.from(mean, (mu, i) => mu / std[i]!);
  if (scale.some((s) => s !== 1)) {
    const out = g.value('edgetune/norm/mul', shape);
    g.op(Builtin.MUL, [x, g.constant('edgetune/norm/scale', [3], scale)], [out], { kind: 'mul', act: 'NONE' });
    x = out;
  }
  if (offset.some((o) => o !== 0)) {
    const out = g.value('edgetune/norm/sub', shape);
    g.op(Builtin.SUB, [x, g.constant('edgetune/norm/offset', [3], offset)], [out], { kind: 'sub', act: 'NONE' });
    x = out;
  }
  return x;
}

function denseHead(l: Lowering, features: number, head: Dense[]): number {
  const g = l.g;
  let x = l.float(features);
  head.forEach((layer, i) => {
    const [inDim, outDim] = layer.kernel.shape as [number, number];
    if (g.shapeOf(x)[1] !== inDim) throw new EdgetuneError('INTERNAL', `TFLite export: dense${i} reads ${inDim} features, the network gives [${g.shapeOf(x)}]`);
    const kernel = g.constant(`edgetune/dense${i}/kernel`, [outDim, inDim], transpose2d(layer.kernel));
    const bias = g.constant(`edgetune/dense${i}/bias`, [outDim], layer.bias.data);
    const out = g.value(`edgetune/dense${i}`, [g.shapeOf(x)[0]!, outDim]);
    g.op(Builtin.FULLY_CONNECTED, [x, kernel, bias], [out], { kind: 'fc', act: i < head.length - 1 ? 'RELU' : 'NONE' });
    x = out;
  });
  const probabilities = g.value('probabilities', g.shapeOf(x));
  g.op(Builtin.SOFTMAX, [x], [probabilities], { kind: 'softmax' });
  return probabilities;
}

/** The .tflite bytes. */
export function writeTflite(m: TfliteModelInput): Uint8Array {
  const l = new Lowering(m.network.weights, m.int8?.ranges ?? null);
  const [h, w] = m.inputSize;
  const image = l.g.value('image', [1, h, w, 3], TensorType.FLOAT32,);
  l.set(m.network.input, normalize(l, image, m.normalization));
  for (const op of m.network.ops) l.set(op.name, l.emit(op));
  const probabilities = denseHead(l, l.at(m.network.output), m.head);
  l.g.addMetadata('edgetune', new TextEncoder().encode(JSON.stringify(m.metadata)));
  return l.g.serialize({ image }, { probabilities }, m.description);
}
