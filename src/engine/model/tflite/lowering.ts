// Network ops to TFLite operators, float32 or int8.
//
// int8 is TFLite's full-integer scheme with float input and output: activations
// int8 asymmetric per tensor (calibrated ranges), convolution weights int8 per
// output channel, biases int32 at input scale x weight scale. A float value
// entering an int8 op passes a QUANTIZE (the normalized image, say), an int8
// value entering a float op a DEQUANTIZE (the last feature map before the
// pooling and the float head); so ops that have no int8 form here (a graph's
// leading Mul/Sub) stay float.
import { EdgetuneError } from '../../../errors.js';
import { samePads, type Act, type NetOp, type Weight } from '../network.js';
import { activationParams, quantizeBias, quantizePerChannel, type Range } from '../quantize/int8.js';
import { Builtin, TensorType, TfliteModel, type ActName, type Quantization } from './model-builder.js';

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

/** 'SAME' when the pads are TensorFlow's SAME pads (TFLite pads alike), 'VALID' when none, else null. */
function paddingOf(op: Extract<NetOp, { kind: 'conv' }>, [h, w]: number[], [kh, kw]: number[]): 'SAME' | 'VALID' | null {
  const [t, b, l, r] = op.pads;
  if (t + b + l + r === 0) return 'VALID';
  const [st, sb] = samePads(h!, kh!, op.stride[0]);
  const [sl, sr] = samePads(w!, kw!, op.stride[1]);
  return t === st && b === sb && l === sl && r === sr ? 'SAME' : null;
}

export class Lowering {
  readonly g = new TfliteModel();
  private readonly values = new Map<string, number>();
  /** Network value name of each tensor, to find its calibrated range. */
  private readonly names = new Map<number, string>();

  constructor(
    private readonly weights: Map<string, Weight>,
    /** int8: the calibrated range of every network value; float32 without. */
    private readonly ranges: Map<string, Range> | null = null,
  ) {}

  set(name: string, tensor: number): void {
    this.values.set(name, tensor);
    if (!this.names.has(tensor)) this.names.set(tensor, name);
  }
  at(name: string): number {
    const t = this.values.get(name);
    if (t === undefined) throw new EdgetuneError('INTERNAL', `TFLite export: '${name}' is read before it is computed`);
    return t;
  }
  weight(name: string): Weight {
    return this.weights.get(name) ?? (() => { throw new EdgetuneError('INTERNAL', `TFLite export: weight '${name}' is missing`); })();
  }

  private quantization(value: string): Quantization {
    const range = this.ranges?.get(value);
    if (!range) throw new EdgetuneError('INTERNAL', `int8 TFLite export: no calibrated range for '${value}'`);
    const p = activationParams(range, -128, 127);
    return { scale: [p.scale], zeroPoint: [p.zeroPoint] };
  }

  /** An op's output: int8 with its calibrated range when quantizing, else float32. */
  private output(name: string, shape: number[], int8: boolean, quantization?: Quantization): number {
    if (!int8) return this.g.value(name, shape);
    return this.g.value(name, shape, TensorType.INT8, { quantization: quantization ?? this.quantization(name) });
  }

  /** `x` as an int8 tensor (quantized with its network value's range if it is float). */
  private int8(x: number): number {
    if (this.g.typeOf(x) === TensorType.INT8) return x;
    const name = this.names.get(x) ?? '';
    const out = this.g.value(`${name}/int8`, this.g.shapeOf(x), TensorType.INT8, { quantization: this.quantization(name) });
    this.g.op(Builtin.QUANTIZE, [x], [out], undefined, 2);
    return out;
  }

  /** `x` as a float32 tensor. */
  float(x: number): number {
    if (this.g.typeOf(x) !== TensorType.INT8) return x;
    const out = this.g.value(`${this.names.get(x) ?? x}/float`, this.g.shapeOf(x));
    this.g.op(Builtin.DEQUANTIZE, [x], [out], undefined, 2);
    return out;
  }

  /** An op input, in the form this export computes in. */
  private input(name: string): number {
    const x = this.at(name);
    return this.ranges ? this.int8(x) : x;
  }

  pad(name: string, x: number, [t, b, l, r]: readonly number[]): number {
    const [n, h, w, c] = this.g.shapeOf(x) as [number, number, number, number];
    const pads = this.g.constant(`${name}/paddings`, [4, 2], Int32Array.of(0, 0, t!, b!, l!, r!, 0, 0));
    // PAD keeps its input's quantization (the pad value is the zero point).
    const int8 = this.g.typeOf(x) === TensorType.INT8;
    const out = this.output(name, [n, h + t! + b!, w + l! + r!, c], int8, this.g.quantizationOf(x));
    this.g.op(Builtin.PAD, [x, pads], [out], { kind: 'pad' }, int8 ? 2 : 1);
    return out;
  }

  private convWeights(op: Extract<NetOp, { kind: 'conv' }>, x: number, cout: number): { kernel: number; bias: number } {
    const k = this.weight(op.kernel);
    const [kh, kw, ci, co] = k.shape as [number, number, number, number];
    const shape = op.depthwise ? [1, kh, kw, cout] : [co, kh, kw, ci];
    const data = op.depthwise ? k.data : toOHWI(k);
    const b = this.weight(op.bias);
    if (!this.ranges) return { kernel: this.g.constant(op.kernel, shape, data), bias: this.g.constant(op.bias, [cout], b.data) };
    // Per output channel: TFLite's axis is 0 for CONV_2D (OHWI) and 3 for DEPTHWISE_CONV_2D (1HWC).
    const axis = op.depthwise ? 3 : 0;
    const q = quantizePerChannel({ shape, data }, axis);
    const zeros = new Array<number>(cout).fill(0);
    const inScale = this.g.quantizationOf(x)!.scale[0]!;
    const qb = quantizeBias(b.data, inScale, q.scales);
    return {
      kernel: this.g.constant(op.kernel, shape, q.q, { scale: Array.from(q.scales), zeroPoint: zeros, axis }),
      bias: this.g.constant(op.bias, [cout], qb.q, { scale: Array.from(qb.scales), zeroPoint: zeros, axis: 0 }),
    };
  }

  conv(op: Extract<NetOp, { kind: 'conv' }>): number {
    const [kh, kw, ci, co] = this.weight(op.kernel).shape as [number, number, number, number];
    let x = this.input(op.input);
    const [n, h, w] = this.g.shapeOf(x) as [number, number, number];
    let padding = paddingOf(op, [h, w], [kh, kw]);
    if (!padding) {
      x = this.pad(`${op.name}/pad`, x, op.pads);
      padding = 'VALID';
    }
    const [ph, pw] = this.g.shapeOf(x).slice(1, 3) as [number, number];
    const [oh, ow] = padding === 'SAME' ? [Math.ceil(h / op.stride[0]), Math.ceil(w / op.stride[1])] : [Math.floor((ph - kh) / op.stride[0]) + 1, Math.floor((pw - kw) / op.stride[1]) + 1];
    const cout = op.depthwise ? ci * co : co;
    const { kernel, bias } = this.convWeights(op, x, cout);
    const out = this.output(op.name, [n, oh, ow, cout], Boolean(this.ranges));
    const options = { padding, stride: op.stride, act: ACT[op.act] } as const;
    // Versions: depthwise 2 for dilation fields; int8 per-channel kernels are version 3 of both.
    if (op.depthwise) this.g.op(Builtin.DEPTHWISE_CONV_2D, [x, kernel, bias], [out], { kind: 'depthwise', ...options }, this.ranges ? 3 : 2);
    else this.g.op(Builtin.CONV_2D, [x, kernel, bias], [out], { kind: 'conv', ...options }, this.ranges ? 3 : 1);
    return out;
  }

  emit(op: NetOp): number {
    const g = this.g;
    const int8 = Boolean(this.ranges);
    switch (op.kind) {
      case 'conv':
        return this.conv(op);
      case 'pad':
        return this.pad(op.name, this.input(op.input), op.pads);
      case 'add': {
        const [a, b] = [this.input(op.inputs[0]), this.input(op.inputs[1])];
        const out = this.output(op.name, g.shapeOf(a), int8);
        g.op(Builtin.ADD, [a, b], [out], { kind: 'add', act: 'NONE' }, int8 ? 2 : 1);
        return out;
      }
      case 'scalar': {
        // Per-channel constants on a value: float (a graph's input scaling comes before any int8 op).
        const v = this.weight(op.value);
        const c = g.constant(op.value, v.shape.length ? v.shape : [1], v.data);
        const x = this.float(this.at(op.input));
        const out = g.value(op.name, g.shapeOf(x));
        const code = { Mul: Builtin.MUL, Sub: Builtin.SUB, Add: Builtin.ADD }[op.op];
        const kind = ({ Mul: 'mul', Sub: 'sub', Add: 'add' } as const)[op.op];
        g.op(code, op.constFirst ? [c, x] : [x, c], [out], { kind, act: 'NONE' });
        return out;
      }
      case 'relu': {
        if (op.act === 'none') return this.at(op.input);
        const x = this.input(op.input);
        const out = this.output(op.name, g.shapeOf(x), int8);
        g.op(op.act === 'relu6' ? Builtin.RELU6 : Builtin.RELU, [x], [out], undefined, int8 ? 2 : 1);
        return out;
      }
      case 'identity':
        return this.at(op.input);
      case 'meanpool': {
        // Pooled in float: the features feed the float head, and an int8 mean would add a
        // rounding step to every feature (the ONNX export pools in float too).
        const x = this.float(this.at(op.input));
        const [n, , , c] = g.shapeOf(x) as [number, number, number, number];
        const axes = g.constant(`${op.name}/axes`, [2], Int32Array.of(1, 2));
        const out = g.value(op.name, [n, c]);
        g.op(Builtin.MEAN, [x, axes], [out], { kind: 'mean', keepDims: false });
        return out;
      }
    }
  }
}
