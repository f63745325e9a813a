// Reading and running exported .tflite files in Node, where LiteRT does not load
// (the e2e suite runs LiteRT.js itself in Chromium): a flatbuffer table reader by
// schema slot, and a reference interpreter of the operators edgetune writes,
// computed with tfjs ops from the file's own tensors, options and quantization.
// int8 tensors hold real values snapped to their quantization grid after every
// op, which is what TFLite's integer kernels compute up to their fixed-point rounding.
import * as flatbuffers from 'flatbuffers';
import * as tf from '@tensorflow/tfjs-core';
import { Builtin, F, OptionsType, TensorType } from '../engine/model/tflite/schema.js';

/** Reads fields of a flatbuffer table by schema slot. */
export class Table {
  constructor(
    readonly bb: flatbuffers.ByteBuffer,
    readonly pos: number,
  ) {}
  private field(slot: number): number {
    return this.bb.__offset(this.pos, 4 + 2 * slot);
  }
  int(slot: number, size: 1 | 4 = 4): number {
    const o = this.field(slot);
    return o ? (size === 1 ? this.bb.readInt8(this.pos + o) : this.bb.readInt32(this.pos + o)) : 0;
  }
  float(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readFloat32(this.pos + o) : fallback;
  }
  string(slot: number): string {
    const o = this.field(slot);
    return o ? (this.bb.__string(this.pos + o, flatbuffers.Encoding.UTF16_STRING) as string) : '';
  }
  table(slot: number): Table | null {
    const o = this.field(slot);
    return o ? new Table(this.bb, this.bb.__indirect(this.pos + o)) : null;
  }
  tables(slot: number): Table[] {
    const o = this.field(slot);
    if (!o) return [];
    const start = this.bb.__vector(this.pos + o);
    return Array.from({ length: this.bb.__vector_len(this.pos + o) }, (_, i) => new Table(this.bb, this.bb.__indirect(start + 4 * i)));
  }
  ints(slot: number): number[] {
    return this.vector(slot, 4, (at) => this.bb.readInt32(at));
  }
  floats(slot: number): number[] {
    return this.vector(slot, 4, (at) => this.bb.readFloat32(at));
  }
  longs(slot: number): number[] {
    return this.vector(slot, 8, (at) => Number(this.bb.readInt64(at)));
  }
  private vector(slot: number, width: number, read: (at: number) => number): number[] {
    const o = this.field(slot);
    if (!o) return [];
    const start = this.bb.__vector(this.pos + o);
    return Array.from({ length: this.bb.__vector_len(this.pos + o) }, (_, i) => read(start + width * i));
  }
  /** A [ubyte] vector: its absolute start in the file and its bytes. */
  bytes(slot: number): { at: number; data: Uint8Array } {
    const o = this.field(slot);
    if (!o) return { at: 0, data: new Uint8Array(0) };
    const at = this.bb.__vector(this.pos + o);
    return { at, data: this.bb.bytes().subarray(at, at + this.bb.__vector_len(this.pos + o)) };
  }
}

/** The model table of a .tflite file. */
export function readTflite(bytes: Uint8Array): Table {
  const bb = new flatbuffers.ByteBuffer(bytes);
  return new Table(bb, bb.readInt32(0));
}

interface TensorInfo {
  shape: number[];
  type: number;
  data: Uint8Array;
  q: { scale: number[]; zeroPoint: number[]; axis: number } | null;
}

function tensorInfos(model: Table, graph: Table): TensorInfo[] {
  const buffers = model.tables(F.Model.buffers);
  return graph.tables(F.SubGraph.tensors).map((t) => {
    const q = t.table(F.Tensor.quantization);
    const scale = q?.floats(F.QuantizationParameters.scale) ?? [];
    return {
      shape: t.ints(F.Tensor.shape),
      type: t.int(F.Tensor.type, 1),
      data: buffers[t.int(F.Tensor.buffer)]?.bytes(F.Buffer.data).data ?? new Uint8Array(0),
      q: scale.length ? { scale, zeroPoint: q!.longs(F.QuantizationParameters.zero_point), axis: q!.int(F.QuantizationParameters.quantized_dimension) } : null,
    };
  });
}

/** Per-channel (or per-tensor) scale and zero point broadcast along `axis` of `shape`. */
function affine(q: NonNullable<TensorInfo['q']>, shape: number[]): [tf.Tensor, tf.Tensor] {
  if (q.scale.length === 1) return [tf.scalar(q.scale[0]!), tf.scalar(q.zeroPoint[0] ?? 0)];
  const at = shape.map((_, i) => (i === q.axis ? -1 : 1));
  return [tf.reshape(tf.tensor1d(q.scale), at), tf.reshape(tf.tensor1d(q.zeroPoint.map(Number)), at)];
}

/** A constant's real values. */
function constant(t: TensorInfo): tf.Tensor {
  const copy = t.data.slice();
  const raw =
    t.type === TensorType.FLOAT32 ? new Float32Array(copy.buffer) : t.type === TensorType.INT32 ? new Int32Array(copy.buffer) : t.type === TensorType.INT8 ? new Int8Array(copy.buffer) : copy;
  const x = tf.tensor(Float32Array.from(raw), t.shape);
  if (!t.q || t.type === TensorType.FLOAT32) return x;
  const [s, z] = affine(t.q, t.shape);
  return tf.mul(tf.sub(x, z), s);
}

/** Snaps real values to an int8 tensor's grid (what storing them as int8 keeps). */
function snap(x: tf.Tensor, t: TensorInfo): tf.Tensor {
  if (t.type !== TensorType.INT8 || !t.q) return x;
  const [s, z] = affine(t.q, t.shape);
  return tf.mul(tf.sub(tf.clipByValue(tf.add(tf.round(tf.div(x, s)), z), -128, 127), z), s);
}

const ACTIVATIONS: Record<number, (x: tf.Tensor) => tf.Tensor> = { 0: (x) => x, 1: tf.relu, 3: (x) => tf.clipByValue(x, 0, 6) };
const act = (options: Table | null, slot: number, x: tf.Tensor) => {
  const f = ACTIVATIONS[options?.int(slot, 1) ?? 0];
  if (!f) throw new Error(`unsupported fused activation ${options?.int(slot, 1)}`);
  return f(x);
};
const padding = (options: Table) => (options.int(0, 1) === 0 ? 'same' : 'valid');

/** The options table each operator's union must name (LiteRT reads the options by this type). */
const OPTIONS_OF: Record<number, number> = {
  [Builtin.CONV_2D]: OptionsType.Conv2DOptions,
  [Builtin.DEPTHWISE_CONV_2D]: OptionsType.DepthwiseConv2DOptions,
  [Builtin.FULLY_CONNECTED]: OptionsType.FullyConnectedOptions,
  [Builtin.SOFTMAX]: OptionsType.SoftmaxOptions,
  [Builtin.ADD]: OptionsType.AddOptions,
  [Builtin.MUL]: OptionsType.MulOptions,
  [Builtin.SUB]: OptionsType.SubOptions,
  [Builtin.PAD]: OptionsType.PadOptions,
  [Builtin.MEAN]: OptionsType.ReducerOptions,
};

/** Throws unless `op`'s options are absent (type NONE) or of the table its operator reads. */
function checkOptions(code: number, op: Table): void {
  const type = op.int(F.Operator.builtin_options_type, 1);
  const present = op.table(F.Operator.builtin_options) !== null;
  if (present ? type !== OPTIONS_OF[code] : type !== OptionsType.NONE) throw new Error(`operator ${code} has options of type ${type}${present ? '' : ' but no options'}`);
}

/** One operator's output from its inputs' real values. */
function apply(code: number, ins: tf.Tensor[], options: Table | null): tf.Tensor {
  const [x, w, b] = ins;
  const o = options!;
  switch (code) {
    case Builtin.CONV_2D: {
      const stride: [number, number] = [o.int(F.Conv2DOptions.stride_h), o.int(F.Conv2DOptions.stride_w)];
      const y = tf.conv2d(x as tf.Tensor4D, tf.transpose(w!, [1, 2, 3, 0]) as tf.Tensor4D, stride, padding(o));
      return act(o, F.Conv2DOptions.fused_activation_function, b ? tf.add(y, b) : y);
    }
    case Builtin.DEPTHWISE_CONV_2D: {
      const [, kh, kw, co] = w!.shape as number[];
      const ci = x!.shape[3]!;
      if (o.int(F.DepthwiseConv2DOptions.depth_multiplier) * ci !== co) throw new Error(`depth_multiplier ${o.int(F.DepthwiseConv2DOptions.depth_multiplier)} for ${ci} -> ${co} channels`);
      const filter = tf.reshape(w!, [kh!, kw!, ci, co! / ci]) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(x as tf.Tensor4D, filter, [o.int(F.DepthwiseConv2DOptions.stride_h), o.int(F.DepthwiseConv2DOptions.stride_w)], padding(o));
      return act(o, F.DepthwiseConv2DOptions.fused_activation_function, b ? tf.add(y, b) : y);
    }
    case Builtin.FULLY_CONNECTED: {
      const y = tf.matMul(tf.reshape(x!, [-1, w!.shape[1]!]), w!, false, true);
      return act(options, F.FullyConnectedOptions.fused_activation_function, b ? tf.add(y, b) : y);
    }
    case Builtin.ADD:
      return act(options, F.ArithmeticOptions.fused_activation_function, tf.add(x!, w!));
    case Builtin.SUB:
      return act(options, F.ArithmeticOptions.fused_activation_function, tf.sub(x!, w!));
    case Builtin.MUL:
      return act(options, F.ArithmeticOptions.fused_activation_function, tf.mul(x!, w!));
    case Builtin.RELU:
      return tf.relu(x!);
    case Builtin.RELU6:
      return tf.clipByValue(x!, 0, 6);
    case Builtin.SOFTMAX:
      return tf.softmax(tf.mul(x!, o.float(F.SoftmaxOptions.beta, 1)));
    case Builtin.PAD:
      return tf.pad(x!, tf.tensor(w!.dataSync(), [4, 2]).arraySync() as [number, number][]);
    case Builtin.MEAN:
      return tf.mean(x!, Array.from(w!.dataSync()), Boolean(options?.int(F.ReducerOptions.keep_dims, 1)));
    case Builtin.QUANTIZE:
    case Builtin.DEQUANTIZE:
      return x!;
    default:
      throw new Error(`operator ${code} is not in this interpreter`);
  }
}

/** Runs the first subgraph of a .tflite file on a float input; returns its first output. */
export function runTflite(bytes: Uint8Array, input: Float32Array): Float32Array {
  const model = readTflite(bytes);
  const graph = model.tables(F.Model.subgraphs)[0]!;
  const infos = tensorInfos(model, graph);
  const codes = model.tables(F.Model.operator_codes).map((c) => Math.max(c.int(F.OperatorCode.builtin_code), c.int(F.OperatorCode.deprecated_builtin_code, 1)));
  const [inputIdx] = graph.ints(F.SubGraph.inputs);
  const [outputIdx] = graph.ints(F.SubGraph.outputs);
  return tf.tidy(() => {
    const values = new Map<number, tf.Tensor>([[inputIdx!, tf.tensor(input, infos[inputIdx!]!.shape)]]);
    const read = (i: number) => values.get(i) ?? (values.set(i, constant(infos[i]!)), values.get(i)!);
    for (const op of graph.tables(F.SubGraph.operators)) {
      const ins = op.ints(F.Operator.inputs).map((i) => (i < 0 ? undefined : read(i))) as tf.Tensor[];
      const [out] = op.ints(F.Operator.outputs);
      const code = codes[op.int(F.Operator.opcode_index)]!;
      checkOptions(code, op);
      const y = apply(code, ins, op.table(F.Operator.builtin_options));
      // LiteRT allocates every tensor from its declared shape before running: a shape the op does not produce is a broken file.
      const declared = infos[out!]!.shape;
      if (y.shape.length !== declared.length || y.shape.some((d, i) => d !== declared[i])) {
        throw new Error(`operator ${code} computes [${y.shape}] into a tensor declared [${declared}]`);
      }
      values.set(out!, snap(y, infos[out!]!));
    }
    return values.get(outputIdx!)!.dataSync() as Float32Array;
  });
}
