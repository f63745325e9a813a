// int8 quantization arithmetic shared by the ONNX (QDQ) and TFLite writers:
// weights symmetric per output channel (int8, zero point 0), activations
// asymmetric per tensor from calibrated ranges, biases int32 at the product of
// the input's and the weight's scales. real = scale * (q - zeroPoint).
import type { Weight } from '../network.js';

/** An activation's calibrated range, widened to hold 0 (so zero and padding are exact). */
export type Range = [min: number, max: number];

export interface Affine {
  scale: number;
  zeroPoint: number;
}

/** Per-tensor asymmetric parameters for a range, in [qmin, qmax] (uint8: 0..255, int8: -128..127). */
export function activationParams([lo, hi]: Range, qmin: number, qmax: number): Affine {
  const min = Math.min(lo, 0);
  const max = Math.max(hi, 0);
  const scale = max > min ? (max - min) / (qmax - qmin) : 1;
  const zeroPoint = Math.min(qmax, Math.max(qmin, Math.round(qmin - min / scale)));
  return { scale, zeroPoint };
}

export interface ChannelQuantized {
  q: Int8Array;
  /** One per channel of `axis`. */
  scales: Float32Array;
}

/**
 * Symmetric int8 per channel along `axis` (values in -127..127). A channel of
 * zeros gets scale 1 (any scale represents it exactly; 0 would divide by zero later).
 */
export function quantizePerChannel(w: Weight, axis: number): ChannelQuantized {
  const dims = w.shape;
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const absMax = new Float32Array(channels);
  for (let i = 0; i < w.data.length; i++) {
    const c = channelOf(i);
    absMax[c] = Math.max(absMax[c]!, Math.abs(w.data[i]!));
  }
  const scales = Float32Array.from(absMax, (m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(w.data.length);
  for (let i = 0; i < w.data.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(w.data[i]! / scales[channelOf(i)]!)));
  return { q, scales };
}

/** int32 biases at scale inputScale * weightScale[c], zero point 0. */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): { q: Int32Array; scales: Float32Array } {
  const scales = Float32Array.from(weightScales, (s) => s * inputScale);
  const q = Int32Array.from(bias, (b, c) => Math.round(b / scales[c]!));
  return { q, scales };
}
