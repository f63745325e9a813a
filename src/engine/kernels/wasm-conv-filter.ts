// Conv2DBackpropFilter for tfjs-backend-wasm (4.22 registers no convolution
// gradients): the weight gradient of a regular convolution, which full
// fine-tuning needs for the backbone's stem (a 3x3 stride-2 convolution).
//
// dW[ky, kx, ci, co] = sum over (b, oy, ox) of x[b, oy*s - pad + ky, ox*s - pad + kx, ci] * dy[b, oy, ox, co]
//
// is one matrix product, colsT [K, M] x dy [M, Cout] with K = kh*kw*Cin and
// M = N*OH*OW: the input's patches are laid out once (im2col, transposed so
// that the product needs no transpose) and multiplied by the backend's own
// BatchMatMul (XNNPACK, SIMD and threads where the build has them). Batches
// whose patch matrix would pass PATCH_BYTES run in groups of images whose
// products are summed, so the scratch memory stays bounded.
import { backend_util, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { f32, type WasmBackend } from './wasm-backend.js';

type Attrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
};

/** The largest im2col scratch matrix, in bytes. */
export const PATCH_BYTES = 64 * 1024 * 1024;

interface Backend extends WasmBackend {
  disposeData(dataId: object): boolean;
}

/**
 * The kernel, over the backend's BatchMatMul (`matMul`: its registered kernel function).
 * @throws Error for NCHW (the WASM backend's Conv2D itself is NHWC-only).
 */
export function conv2dBackpropFilter(matMul: KernelFunc) {
  return ({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: unknown; attrs?: NamedAttrMap }): TensorInfo => {
    const b = backend as Backend;
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const a = attrs as unknown as Attrs;
    if (a.dataFormat === 'NCHW') throw new Error('edgetune wasm kernel: Conv2DBackpropFilter supports NHWC only, as the WASM Conv2D does');
    const ci = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
    const { batchSize: n, outHeight: oh, outWidth: ow, outChannels: cout } = ci;
    const k = ci.filterHeight * ci.filterWidth * ci.inChannels;
    const perImage = oh * ow;
    const group = Math.max(1, Math.min(n, Math.floor(PATCH_BYTES / (4 * k * Math.max(1, perImage)))));
    const out = b.makeOutput([1, k, cout], 'float32');
    if (n === 0 || perImage === 0) {
      f32(b, out).fill(0);
      return { dataId: out.dataId, shape: a.filterShape, dtype: 'float32' };
    }
    for (let first = 0; first < n; first += group) {
      const count = Math.min(group, n - first);
      const m = count * perImage;
      const cols = b.makeOutput([1, k, m], 'float32');
      fillPatches(f32(b, cols), f32(b, x), ci, first, count);
      // dy's rows for these images, as a [1, m, cout] view of the same data.
      const dyRows = first === 0 && count === n ? { dataId: dy.dataId, shape: [1, m, cout], dtype: dy.dtype } : sliceRows(b, dy, first * perImage * cout, m * cout, [1, m, cout]);
      const part = matMul({ inputs: { a: cols, b: dyRows }, backend: b as never, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
      b.disposeData(cols.dataId);
      if (dyRows.dataId !== dy.dataId) b.disposeData(dyRows.dataId);
      const [sum, p] = [f32(b, out), f32(b, part)];
      if (first === 0) sum.set(p);
      else for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + p[i]!;
      b.disposeData(part.dataId);
    }
    // The product's [1, K, Cout] is the filter [kh, kw, Cin, Cout] in memory.
    return { dataId: out.dataId, shape: a.filterShape, dtype: 'float32' };
  };
}

/** A copy of `length` floats of `t` from `offset`, as a new tensor of `shape`. */
function sliceRows(b: Backend, t: TensorInfo, offset: number, length: number, shape: number[]): TensorInfo {
  const info = b.makeOutput(shape, 'float32');
  f32(b, info).set(f32(b, t).subarray(offset, offset + length));
  return info;
}

/**
 * colsT[(ky*kw + kx)*Cin + c, m] = the input value under tap (ky, kx), channel c,
 * of output position m (images first..first+count), 0 in the padding. Rows are
 * written in order (contiguous), the input read strided.
 */
function fillPatches(cols: Float32Array, xs: Float32Array, ci: backend_util.Conv2DInfo, first: number, count: number): void {
  const { inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = ci;
  const [pt, pl] = [ci.padInfo.top, ci.padInfo.left];
  const m = count * oh * ow;
  let row = 0;
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      for (let ch = 0; ch < c; ch++, row++) {
        let at = row * m;
        for (let bi = first; bi < first + count; bi++) {
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * sh - pt + ky;
            if (iy < 0 || iy >= h) {
              cols.fill(0, at, at + ow);
              at += ow;
              continue;
            }
            const base = (bi * h + iy) * w;
            for (let ox = 0; ox < ow; ox++) {
              const ix = ox * sw - pl + kx;
              cols[at++] = ix >= 0 && ix < w ? xs[(base + ix) * c + ch]! : 0;
            }
          }
        }
      }
    }
  }
}
