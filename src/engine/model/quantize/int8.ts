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

/** The scale in [0.5, 1] x max/127 whose int8 rounding of `values` has the least squared error. */
function bestScale(values: Float32Array, absMax: number): number {
  let best = Infinity;
  let scale = absMax / 127;
  for (let k = 0; k <= 60; k++) {
    const s = (absMax / 127) * (1 - k / 120);
    let err = 0;
    for (let i = 0; i < values.length; i++) {
      const d = values[i]! - s * Math.max(-127, Math.min(127, Math.round(values[i]! / s)));
      err += d * d;
    }
    if (err < best) [best, scale] = [err, s];
  }
  return scale;
}

/**
 * Symmetric int8 per channel along `axis` (values in -127..127). Each channel's
 * scale minimizes its squared rounding error rather than just covering its
 * largest value: clipping a rare extreme weight buys finer steps for the rest,
 * which matters for backbones whose weights were already stored quantized
 * (measured on stamps-dev: 3 of 35 test answers changed with max/127 scales, 1
 * with these; bench/int8.mjs). A channel of zeros gets scale 1.
 */
export function quantizePerChannel(w: Weight, axis: number): ChannelQuantized {
  const dims = w.shape;
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = w.data.length / (channels * inner);
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  // Each channel's values gathered once: [outer x inner] strided blocks.
  const scales = new Float32Array(channels);
  const values = new Float32Array(outer * inner);
  for (let c = 0; c < channels; c++) {
    let absMax = 0;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const v = w.data[(o * channels + c) * inner + j]!;
        values[o * inner + j] = v;
        absMax = Math.max(absMax, Math.abs(v));
      }
    }
    scales[c] = absMax > 0 ? bestScale(values, absMax) : 1;
  }
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
