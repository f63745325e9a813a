// int8 in ONNX's QDQ form: QuantizeLinear -> DequantizeLinear pairs on every
// backbone value (uint8, asymmetric, from calibrated ranges), convolution
// weights stored int8 per output channel and biases int32, each read through a
// DequantizeLinear. ONNX Runtime fuses DQ -> Conv -> Q into QLinearConv (and
// likewise for Add); any runtime without int8 kernels still runs the file in
// float, with the quantization error included. The head stays float32.
import { EdgetuneError } from '../../../errors.js';
import type { Weight } from '../network.js';
import { activationParams, quantizeBias, quantizePerChannel, type Affine, type Range } from '../quantize/int8.js';
import { attr, onnx, type GraphBuilder } from './graph-builder.js';

const T = onnx.TensorProto.DataType;

export class Qdq {
  /** Activation parameters by network value name. */
  private readonly params = new Map<string, Affine>();
  constructor(
    private readonly g: GraphBuilder,
    private readonly ranges: Map<string, Range>,
  ) {}

  /** Quantizes and dequantizes `onnxName` (network value `value`); returns the dequantized name. */
  activation(value: string, onnxName: string): string {
    const range = this.ranges.get(value);
    if (!range) throw new EdgetuneError('INTERNAL', `int8 export: no calibrated range for '${value}'`);
    const p = activationParams(range, 0, 255);
    this.params.set(value, p);
    const s = this.g.float(`${onnxName}/q/scale`, [], Float32Array.of(p.scale));
    const z = this.g.typed(`${onnxName}/q/zero_point`, [], T.UINT8, Uint8Array.of(p.zeroPoint));
    const q = this.g.node('QuantizeLinear', `${onnxName}/q`, [onnxName, s, z]);
    return this.g.node('DequantizeLinear', `${onnxName}/dq`, [q, s, z]);
  }

  /** `alias` has the same quantization as `value` (an Identity). */
  same(alias: string, value: string): void {
    const p = this.params.get(value);
    if (p) this.params.set(alias, p);
  }

  /** A convolution's OIHW weight as int8 per output channel, and its bias as int32; returns the dequantized names. */
  conv(input: string, kernelName: string, w: Weight, biasName: string, bias: Weight): { kernel: string; bias: string } {
    const x = this.params.get(input);
    if (!x) throw new EdgetuneError('INTERNAL', `int8 export: the input '${input}' of a convolution is not quantized`);
    const { q, scales } = quantizePerChannel(w, 0);
    const channels = scales.length;
    const axis = [attr.int('axis', 0)];
    const kq = this.g.typed(`${kernelName}/int8`, w.shape, T.INT8, q);
    const ks = this.g.float(`${kernelName}/scale`, [channels], scales);
    const kz = this.g.typed(`${kernelName}/zero_point`, [channels], T.INT8, new Int8Array(channels));
    const kernel = this.g.node('DequantizeLinear', `${kernelName}/dq`, [kq, ks, kz], axis);
    const b = quantizeBias(bias.data, x.scale, scales);
    const bq = this.g.typed(`${biasName}/int32`, [channels], T.INT32, b.q);
    const bs = this.g.float(`${biasName}/scale`, [channels], b.scales);
    const bz = this.g.typed(`${biasName}/zero_point`, [channels], T.INT32, new Int32Array(channels));
    return { kernel, bias: this.g.node('DequantizeLinear', `${biasName}/dq`, [bq, bs, bz], axis) };
  }
}
