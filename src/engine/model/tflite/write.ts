// Writes a Network, its input normalization and a dense head as one float32
// TFLite model.
//
// Contract of an exported model: input `image` float32 [1, height, width, 3],
// RGB 0..255 already at the backbone's size (LiteRT.js compiles fixed shapes,
// so the resize stays outside: docs/exports.md has the exact one), one image at
// a time (LiteRT.js refuses a resizable batch). Output `probabilities`
// float32 [1, classes]. TFLite is NHWC like TensorFlow, so kernels only change
// layout: HWIO -> OHWI, depthwise HWC1 -> 1HWC, dense [in, out] -> [out, in].
import { EdgetuneError } from '../../../errors.js';
import { samePads, type Act, type Network, type NetOp, type Weight } from '../network.js';
import type { Dense } from '../trained-network.js';
import { Builtin, TensorType, TfliteModel, type ActName } from './model-builder.js';

export interface TfliteModelInput {
  network: Network;
  inputSize: readonly [number, number];
  normalization: { mean: readonly number[]; std: readonly number[] };
  head: Dense[];
  /** Stored as JSON in the model's `edgetune` metadata entry. */
  metadata: Record<string, unknown>;
  description: string;
}

const ACT: Record<Act, ActName> = { none: 'NONE', relu: 'RELU', relu6: 'RELU6' };

/** HWIO -> OHWI. */
function toOHWI(w: Weight): Float32Array {
  const [kh, kw, ci, co] = w.shape as [number, number, number, number];
  const out = new Float32Array(w.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < ci; c++)
        for (let k = 0; k < co; k++) out[((k * kh + y) * kw + x) * ci + c] = w.data[((y * kw + x) * ci + c) * co + k]!;
  return out;
}

/** [rows, cols] -> [cols, rows]. */
export function transpose2d(w: Weight): Float32Array {
  const [r, c] = w.shape as [number, number];
  const out = new Float32Array(w.data.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = w.data[i * c + j]!;
  return out;
}

/** 'SAME' when the pads are TensorFlow's SAME pads (TFLite pads alike), 'VALID' when none, else null. */
function paddingOf(op: Extract<NetOp, { kind: 'conv' }>, [h, w]: number[], [kh, kw]: number[]): 'SAME' | 'VALID' | null {
  const [t, b, l, r] = op.pads;
  if (t + b + l + r === 0) return 'VALID';
  const [st, sb] = samePads(h!, kh!, op.stride[0]);
  const [sl, sr] = samePads(w!, kw!, op.stride[1]);
  return t === st && b === sb && l === sl && r === sr ? 'SAME' : null;
}

class Lowering {
  readonly g = new TfliteModel();
  private readonly values = new Map<string, number>();
  constructor(private readonly weights: Map<string, Weight>) {}

  set(name: string, tensor: number): void {
    this.values.set(name, tensor);
  }
  at(name: string): number {
    const t = this.values.get(name);
    if (t === undefined) throw new EdgetuneError('INTERNAL', `TFLite export: '${name}' is read before it is computed`);
    return t;
  }
  weight(name: string): Weight {
    return this.weights.get(name) ?? (() => { throw new EdgetuneError('INTERNAL', `TFLite export: weight '${name}' is missing`); })();
  }

  pad(name: string, x: number, [t, b, l, r]: readonly number[]): number {
    const [n, h, w, c] = this.g.shapeOf(x) as [number, number, number, number];
    const pads = this.g.constant(`${name}/paddings`, [4, 2], Int32Array.of(0, 0, t!, b!, l!, r!, 0, 0));
    const out = this.g.value(name, [n, h + t! + b!, w + l! + r!, c]);
    this.g.op(Builtin.PAD, [x, pads], [out], { kind: 'pad' });
    return out;
  }

  conv(op: Extract<NetOp, { kind: 'conv' }>): number {
    const k = this.weight(op.kernel);
    const [kh, kw, ci, co] = k.shape as [number, number, number, number];
    let x = this.at(op.input);
    const [n, h, w] = this.g.shapeOf(x) as [number, number, number];
    let padding = paddingOf(op, [h, w], [kh, kw]);
    if (!padding) {
      x = this.pad(`${op.name}/pad`, x, op.pads);
      padding = 'VALID';
    }
    const [ph, pw] = this.g.shapeOf(x).slice(1, 3) as [number, number];
    const [oh, ow] = padding === 'SAME' ? [Math.ceil(h / op.stride[0]), Math.ceil(w / op.stride[1])] : [Math.floor((ph - kh) / op.stride[0]) + 1, Math.floor((pw - kw) / op.stride[1]) + 1];
    const cout = op.depthwise ? ci * co : co;
    const kernel = op.depthwise ? this.g.constant(op.kernel, [1, kh, kw, cout], k.data) : this.g.constant(op.kernel, [co, kh, kw, ci], toOHWI(k));
    const b = this.weight(op.bias);
    const bias = this.g.constant(op.bias, [cout], b.data);
    const out = this.g.value(op.name, [n, oh, ow, cout]);
    const options = { padding, stride: op.stride, act: ACT[op.act] } as const;
    if (op.depthwise) this.g.op(Builtin.DEPTHWISE_CONV_2D, [x, kernel, bias], [out], { kind: 'depthwise', ...options }, 2);
    else this.g.op(Builtin.CONV_2D, [x, kernel, bias], [out], { kind: 'conv', ...options });
    return out;
  }

  emit(op: NetOp): number {
    const g = this.g;
    switch (op.kind) {
      case 'conv':
        return this.conv(op);
      case 'pad':
        return this.pad(op.name, this.at(op.input), op.pads);
      case 'add': {
        const [a, b] = [this.at(op.inputs[0]), this.at(op.inputs[1])];
        const out = g.value(op.name, g.shapeOf(a));
        g.op(Builtin.ADD, [a, b], [out], { kind: 'add', act: 'NONE' });
        return out;
      }
      case 'scalar': {
        const v = this.weight(op.value);
        const c = g.constant(op.value, v.shape.length ? v.shape : [1], v.data);
        const x = this.at(op.input);
        const out = g.value(op.name, g.shapeOf(x));
        const code = { Mul: Builtin.MUL, Sub: Builtin.SUB, Add: Builtin.ADD }[op.op];
        const kind = ({ Mul: 'mul', Sub: 'sub', Add: 'add' } as const)[op.op];
        g.op(code, op.constFirst ? [c, x] : [x, c], [out], { kind, act: 'NONE' });
        return out;
      }
      case 'relu': {
        const x = this.at(op.input);
        if (op.act === 'none') return x;
        const out = g.value(op.name, g.shapeOf(x));
        g.op(op.act === 'relu6' ? Builtin.RELU6 : Builtin.RELU, [x], [out]);
        return out;
      }
      case 'identity':
        return this.at(op.input);
      case 'meanpool': {
        const x = this.at(op.input);
        const [n, , , c] = g.shapeOf(x) as [number, number, number, number];
        const axes = g.constant(`${op.name}/axes`, [2], Int32Array.of(1, 2));
        const out = g.value(op.name, [n, c]);
        g.op(Builtin.MEAN, [x, axes], [out], { kind: 'mean', keepDims: false });
        return out;
      }
    }
  }
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
  let x = features;
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
  const l = new Lowering(m.network.weights);
  const [h, w] = m.inputSize;
  const image = l.g.value('image', [1, h, w, 3], TensorType.FLOAT32,);
  l.set(m.network.input, normalize(l, image, m.normalization));
  for (const op of m.network.ops) l.set(op.name, l.emit(op));
  const probabilities = denseHead(l, l.at(m.network.output), m.head);
  l.g.addMetadata('edgetune', new TextEncoder().encode(JSON.stringify(m.metadata)));
  return l.g.serialize({ image }, { probabilities }, m.description);
}
