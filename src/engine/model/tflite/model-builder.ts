// A TFLite model held as plain tensors, buffers and operators, then serialized
// with the flatbuffers runtime into one .tflite file (one subgraph, one
// signature). Children are written before their parents, as flatbuffers needs.
import * as flatbuffers from 'flatbuffers';
import { EdgetuneError } from '../../../errors.js';
import { bytesOf } from '../../util/bytes.js';
import { Activation, Builtin, F, FILE_IDENTIFIER, OptionsType, Padding, SCHEMA_VERSION, TensorType, type TensorTypeId } from './schema.js';

export type ActName = keyof typeof Activation;

/** Per-tensor or per-channel affine quantization: real = scale * (q - zeroPoint). */
export interface Quantization {
  scale: number[];
  zeroPoint: number[];
  /** The axis `scale` runs along when it has more than one value. */
  axis?: number;
}

export type Options =
  | { kind: 'conv'; padding: keyof typeof Padding; stride: [number, number]; act: ActName }
  | { kind: 'depthwise'; padding: keyof typeof Padding; stride: [number, number]; act: ActName }
  | { kind: 'fc'; act: ActName }
  | { kind: 'softmax' }
  | { kind: 'add' | 'mul' | 'sub'; act: ActName }
  | { kind: 'pad' }
  | { kind: 'mean'; keepDims: boolean };

interface TensorDef {
  name: string;
  shape: number[];
  type: TensorTypeId;
  buffer: number;
  quantization?: Quantization;
  /** The shape with -1 where a size may change (the batch). */
  signature?: number[];
}

interface OpDef {
  code: number;
  /** Operator versions the runtime registers a kernel for (int8 kernels need newer versions). */
  version: number;
  inputs: number[];
  outputs: number[];
  options?: Options;
}

type Typed = Float32Array | Int32Array | Int8Array | Uint8Array;

const TYPE_OF = (data: Typed): TensorTypeId =>
  data instanceof Float32Array ? TensorType.FLOAT32 : data instanceof Int32Array ? TensorType.INT32 : data instanceof Int8Array ? TensorType.INT8 : TensorType.UINT8;

export class TfliteModel {
  private readonly tensors: TensorDef[] = [];
  /** Buffer 0 is the empty sentinel every tensor without data points at. */
  private readonly buffers: Uint8Array[] = [new Uint8Array(0)];
  private readonly ops: OpDef[] = [];
  private readonly metadata: { name: string; buffer: number }[] = [];

  /** A constant tensor; returns its index. */
  constant(name: string, shape: number[], data: Typed, quantization?: Quantization): number {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new EdgetuneError('INTERNAL', `TFLite constant '${name}': shape [${shape}] holds ${n} values, data ${data.length}`);
    this.buffers.push(bytesOf(data));
    return this.push({ name, shape, type: TYPE_OF(data), buffer: this.buffers.length - 1, ...(quantization ? { quantization } : {}) });
  }

  /** A tensor computed by an operator (or fed as an input); returns its index. */
  value(name: string, shape: number[], type: TensorTypeId = TensorType.FLOAT32, extra: { quantization?: Quantization; signature?: number[] } = {}): number {
    return this.push({ name, shape, type, buffer: 0, ...extra });
  }

  shapeOf(tensor: number): number[] {
    return [...this.tensors[tensor]!.shape];
  }

  typeOf(tensor: number): TensorTypeId {
    return this.tensors[tensor]!.type;
  }

  quantizationOf(tensor: number): Quantization | undefined {
    return this.tensors[tensor]!.quantization;
  }

  op(code: number, inputs: number[], outputs: number[], options?: Options, version = 1): void {
    this.ops.push({ code, version, inputs, outputs, ...(options ? { options } : {}) });
  }

  /** A named metadata entry (Model.metadata) holding `bytes`. */
  addMetadata(name: string, bytes: Uint8Array): void {
    this.buffers.push(bytes);
    this.metadata.push({ name, buffer: this.buffers.length - 1 });
  }

  private push(t: TensorDef): number {
    this.tensors.push(t);
    return this.tensors.length - 1;
  }

  /** The .tflite bytes: `inputs` and `outputs` name the signature's tensors. */
  serialize(inputs: Record<string, number>, outputs: Record<string, number>, description: string): Uint8Array {
    const bytes = this.buffers.reduce((n, b) => n + b.length + 32, 0);
    const b = new flatbuffers.Builder(bytes + (1 << 20));
    // Codes in first-use order; an operator refers to its code by position.
    const codeKeys = [...new Set(this.ops.map((o) => `${o.code}:${o.version}`))];
    const buffers = this.buffers.map((data) => writeBuffer(b, data));
    const shared: ZeroPoints = new Map();
    const tensors = this.tensors.map((t) => writeTensor(b, t, shared));
    const operators = this.ops.map((o) => writeOperator(b, o, codeKeys.indexOf(`${o.code}:${o.version}`)));
    const codes = codeKeys.map((k) => writeOperatorCode(b, ...(k.split(':').map(Number) as [number, number])));
    const inputIds = Object.values(inputs);
    const outputIds = Object.values(outputs);
    const subgraph = table(b, F.SubGraph.count, [
      [F.SubGraph.tensors, offsets(b, tensors)],
      [F.SubGraph.inputs, int32s(b, inputIds)],
      [F.SubGraph.outputs, int32s(b, outputIds)],
      [F.SubGraph.operators, offsets(b, operators)],
      [F.SubGraph.name, b.createString('main')],
    ]);
    const signature = writeSignature(b, inputs, outputs);
    const metadata = this.metadata.map((m) => {
      const name = b.createString(m.name);
      b.startObject(F.Metadata.count);
      b.addFieldOffset(F.Metadata.name, name, 0);
      b.addFieldInt32(F.Metadata.buffer, m.buffer, 0);
      return b.endObject();
    });
    const vectors = {
      codes: offsets(b, codes),
      subgraphs: offsets(b, [subgraph]),
      description: b.createString(description),
      buffers: offsets(b, buffers),
      metadata: offsets(b, metadata),
      signatures: offsets(b, [signature]),
    };
    b.startObject(F.Model.count);
    b.addFieldInt32(F.Model.version, SCHEMA_VERSION, 0);
    b.addFieldOffset(F.Model.operator_codes, vectors.codes, 0);
    b.addFieldOffset(F.Model.subgraphs, vectors.subgraphs, 0);
    b.addFieldOffset(F.Model.description, vectors.description, 0);
    b.addFieldOffset(F.Model.buffers, vectors.buffers, 0);
    b.addFieldOffset(F.Model.metadata, vectors.metadata, 0);
    b.addFieldOffset(F.Model.signature_defs, vectors.signatures, 0);
    b.finish(b.endObject(), FILE_IDENTIFIER);
    return b.asUint8Array().slice();
  }
}

/** A table whose fields are all offsets (0 = absent). */
function table(b: flatbuffers.Builder, count: number, fields: [number, number][]): number {
  b.startObject(count);
  for (const [slot, off] of fields) if (off) b.addFieldOffset(slot, off, 0);
  return b.endObject();
}

function offsets(b: flatbuffers.Builder, items: number[]): number {
  b.startVector(4, items.length, 4);
  for (let i = items.length - 1; i >= 0; i--) b.addOffset(items[i]!);
  return b.endVector();
}

function int32s(b: flatbuffers.Builder, items: number[]): number {
  b.startVector(4, items.length, 4);
  for (let i = items.length - 1; i >= 0; i--) b.addInt32(items[i]!);
  return b.endVector();
}

function writeBuffer(b: flatbuffers.Builder, data: Uint8Array): number {
  let vec = 0;
  if (data.length) {
    // The schema's force_align: 16 for buffer data, so runtimes can use weights in place.
    b.prep(16, data.length);
    vec = b.createByteVector(data);
  }
  b.startObject(F.Buffer.count);
  if (vec) b.addFieldOffset(F.Buffer.data, vec, 0);
  return b.endObject();
}

/**
 * Vectors of zero points already written, by content: per-channel weights all
 * have zero points of 0, and a flatbuffer may point many tables at one vector,
 * which saves 8 bytes per channel per tensor (a tenth of an int8 MobileNetV2).
 */
type ZeroPoints = Map<string, number>;

function writeQuantization(b: flatbuffers.Builder, q: Quantization, shared: ZeroPoints): number {
  b.startVector(4, q.scale.length, 4);
  for (let i = q.scale.length - 1; i >= 0; i--) b.addFloat32(q.scale[i]!);
  const scale = b.endVector();
  const key = q.zeroPoint.join();
  let zeroPoint = shared.get(key);
  if (zeroPoint === undefined) {
    b.startVector(8, q.zeroPoint.length, 8);
    for (let i = q.zeroPoint.length - 1; i >= 0; i--) b.addInt64(BigInt(q.zeroPoint[i]!));
    zeroPoint = b.endVector();
    shared.set(key, zeroPoint);
  }
  b.startObject(F.QuantizationParameters.count);
  b.addFieldOffset(F.QuantizationParameters.scale, scale, 0);
  b.addFieldOffset(F.QuantizationParameters.zero_point, zeroPoint, 0);
  b.addFieldInt32(F.QuantizationParameters.quantized_dimension, q.axis ?? 0, 0);
  return b.endObject();
}

function writeTensor(b: flatbuffers.Builder, t: TensorDef, shared: ZeroPoints): number {
  const shape = int32s(b, t.shape);
  const name = b.createString(t.name);
  const quantization = t.quantization ? writeQuantization(b, t.quantization, shared) : 0;
  const signature = t.signature ? int32s(b, t.signature) : 0;
  b.startObject(F.Tensor.count);
  b.addFieldOffset(F.Tensor.shape, shape, 0);
  b.addFieldInt8(F.Tensor.type, t.type, 0);
  b.addFieldInt32(F.Tensor.buffer, t.buffer, 0);
  b.addFieldOffset(F.Tensor.name, name, 0);
  if (quantization) b.addFieldOffset(F.Tensor.quantization, quantization, 0);
  if (signature) b.addFieldOffset(F.Tensor.shape_signature, signature, 0);
  b.addFieldInt8(F.Tensor.has_rank, 1, 0);
  return b.endObject();
}

function writeOperatorCode(b: flatbuffers.Builder, code: number, version: number): number {
  b.startObject(F.OperatorCode.count);
  b.addFieldInt8(F.OperatorCode.deprecated_builtin_code, Math.min(code, 127), 0);
  b.addFieldInt32(F.OperatorCode.version, version, 1);
  b.addFieldInt32(F.OperatorCode.builtin_code, code, 0);
  return b.endObject();
}

function writeOperator(b: flatbuffers.Builder, o: OpDef, opcodeIndex: number): number {
  const inputs = int32s(b, o.inputs);
  const outputs = int32s(b, o.outputs);
  const [type, options] = o.options ? writeOptions(b, o.options) : [OptionsType.NONE, 0];
  b.startObject(F.Operator.count);
  b.addFieldInt32(F.Operator.opcode_index, opcodeIndex, 0);
  b.addFieldOffset(F.Operator.inputs, inputs, 0);
  b.addFieldOffset(F.Operator.outputs, outputs, 0);
  b.addFieldInt8(F.Operator.builtin_options_type, type, 0);
  if (options) b.addFieldOffset(F.Operator.builtin_options, options, 0);
  return b.endObject();
}

function writeOptions(b: flatbuffers.Builder, o: Options): [number, number] {
  switch (o.kind) {
    case 'conv':
    case 'depthwise': {
      // The two tables differ only in depthwise's depth_multiplier (and so its activation's slot).
      const f = o.kind === 'conv' ? F.Conv2DOptions : F.DepthwiseConv2DOptions;
      b.startObject(f.count);
      b.addFieldInt8(f.padding, Padding[o.padding], 0);
      b.addFieldInt32(f.stride_w, o.stride[1], 0);
      b.addFieldInt32(f.stride_h, o.stride[0], 0);
      if (o.kind === 'depthwise') b.addFieldInt32(F.DepthwiseConv2DOptions.depth_multiplier, 1, 0);
      b.addFieldInt8(f.fused_activation_function, Activation[o.act], 0);
      return [o.kind === 'conv' ? OptionsType.Conv2DOptions : OptionsType.DepthwiseConv2DOptions, b.endObject()];
    }
    case 'fc':
      b.startObject(F.FullyConnectedOptions.count);
      b.addFieldInt8(F.FullyConnectedOptions.fused_activation_function, Activation[o.act], 0);
      return [OptionsType.FullyConnectedOptions, b.endObject()];
    case 'softmax':
      b.startObject(F.SoftmaxOptions.count);
      b.addFieldFloat32(F.SoftmaxOptions.beta, 1, 0);
      return [OptionsType.SoftmaxOptions, b.endObject()];
    case 'add':
    case 'mul':
    case 'sub': {
      b.startObject(F.ArithmeticOptions.count);
      b.addFieldInt8(F.ArithmeticOptions.fused_activation_function, Activation[o.act], 0);
      const type = { add: OptionsType.AddOptions, mul: OptionsType.MulOptions, sub: OptionsType.SubOptions }[o.kind];
      return [type, b.endObject()];
    }
    case 'pad':
      b.startObject(0);
      return [OptionsType.PadOptions, b.endObject()];
    case 'mean':
      b.startObject(F.ReducerOptions.count);
      b.addFieldInt8(F.ReducerOptions.keep_dims, o.keepDims ? 1 : 0, 0);
      return [OptionsType.ReducerOptions, b.endObject()];
  }
}

function writeSignature(b: flatbuffers.Builder, inputs: Record<string, number>, outputs: Record<string, number>): number {
  const maps = (m: Record<string, number>) =>
    offsets(
      b,
      Object.entries(m).map(([name, index]) => {
        const s = b.createString(name);
        b.startObject(F.TensorMap.count);
        b.addFieldOffset(F.TensorMap.name, s, 0);
        b.addFieldInt32(F.TensorMap.tensor_index, index, 0);
        return b.endObject();
      }),
    );
  const ins = maps(inputs);
  const outs = maps(outputs);
  const key = b.createString('serving_default');
  b.startObject(F.SignatureDef.count);
  b.addFieldOffset(F.SignatureDef.inputs, ins, 0);
  b.addFieldOffset(F.SignatureDef.outputs, outs, 0);
  b.addFieldOffset(F.SignatureDef.signature_key, key, 0);
  return b.endObject();
}

export { Builtin, TensorType };
