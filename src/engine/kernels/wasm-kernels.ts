// Kernels edgetune adds to tfjs-backend-wasm (4.22) so that the partial strategy's
// tail trains there at a cost close to its arithmetic:
// - DepthwiseConv2dNativeBackpropInput / ...BackpropFilter and Conv2DBackpropFilter
//   (wasm-conv-filter.ts): missing from the WASM backend (WebGPU and CPU have them),
//   so depthwise and regular convolutions had no weight gradient there;
// - Identity without a copy: tfjs saves every tensor a gradient needs through
//   Identity, which the WASM backend implements as a memcpy (the CPU backend shares
//   the buffer, as this one does; tensors are immutable, so sharing is safe);
// - EdgetuneRelu6Backprop: ReLU6's gradient in one pass instead of five kernels;
// - EdgetuneAdamW: one AdamW step of a variable in one pass over its four arrays
//   instead of ~16 kernels (bit-identical to the op sequence of optimizer.ts);
// - Sum over leading axes and 2-D Transpose, wrapped (wasm-layout.ts): the same
//   bits as the backend's, several times faster on the gradients' shapes.
// They work on the WASM heap in place (no copies), through 4-lane SIMD loops
// (wasm-simd.ts) where the JavaScript engine has WebAssembly SIMD and rows come in
// fours, else in JavaScript. Registration is explicit and idempotent (the package
// has no import side effects).
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, type KernelConfig, type TensorInfo, type NamedAttrMap } from '@tensorflow/tfjs-core';
import { f32, fmaFor, ptr, simd, type WasmBackend } from './wasm-backend.js';
import { conv2dBackpropFilter } from './wasm-conv-filter.js';
import { LAYOUT_KERNELS, wrapStock } from './wasm-layout.js';

type Conv2DAttrs = {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

export const RELU6_BACKPROP = 'EdgetuneRelu6Backprop';
export const ADAMW = 'EdgetuneAdamW';

/** EdgetuneAdamW's attributes: the step's scalars (c1, c2: the bias corrections 1 - beta^t). */
export interface AdamWAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  c1: number;
  c2: number;
  /** 0 for variables without decay. */
  weightDecay: number;
  lr: number;
}

function convInfo(xShape: number[], filterShape: number[], a: Conv2DAttrs) {
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    true,
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) throw new Error('edgetune wasm kernel: dilated depthwise gradients are not supported');
  return info;
}

/**
 * Calls `visit` for every (output position, filter tap) pair whose input position
 * lies inside the input, with the element offsets of that input pixel (row of
 * inChannels), of that output pixel (row of outChannels) and of the tap's filter row.
 * Both gradients are this walk with a different multiply-accumulate per pair.
 */
function forEachTap(ci: backend_util.Conv2DInfo, visit: (xOff: number, gOff: number, wOff: number) => void): void {
  const { batchSize: n, inHeight: h, inWidth: wd, inChannels: c, outHeight: oh, outWidth: ow, outChannels: oc } = ci;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = ci;
  const [pt, pl] = [ci.padInfo.top, ci.padInfo.left];
  for (let bi = 0; bi < n; bi++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const gOff = ((bi * oh + oy) * ow + ox) * oc;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh - pt + ky;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw - pl + kx;
            if (ix >= 0 && ix < wd) visit(((bi * h + iy) * wd + ix) * c, gOff, (ky * kw + kx) * oc);
          }
        }
      }
    }
  }
}

/** dx[b, iy, ix, c] = sum over taps of dy[b, oy, ox, c * m + q] * w[ky, kx, c, q], scattered from each output. */
function depthwiseBackpropInput({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: unknown; attrs?: NamedAttrMap }): TensorInfo {
  const b = backend as WasmBackend;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as Conv2DAttrs & { inputShape: number[] };
  const ci = convInfo(a.inputShape, filter.shape, a);
  const out = b.makeOutput(ci.inShape, 'float32');
  const [dx, g, w] = [f32(b, out), f32(b, dy), f32(b, filter)];
  dx.fill(0);
  const [c, m] = [ci.inChannels, ci.outChannels / ci.inChannels];
  const fma = m === 1 ? fmaFor(b, c) : null;
  const [dxP, gP, wP] = [ptr(b, out), ptr(b, dy), ptr(b, filter)];
  forEachTap(ci, (xOff, gOff, wOff) => {
    if (fma) fma(dxP + xOff * 4, gP + gOff * 4, wP + wOff * 4, c);
    else {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let q = 0; q < m; q++) s += g[gOff + ch * m + q]! * w[wOff + ch * m + q]!;
        dx[xOff + ch] = dx[xOff + ch]! + s;
      }
    }
  });
  return out;
}

/** dw[ky, kx, c, q] = sum over batch and outputs of x[b, iy, ix, c] * dy[b, oy, ox, c * m + q]. */
function depthwiseBackpropFilter({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: unknown; attrs?: NamedAttrMap }): TensorInfo {
  const b = backend as WasmBackend;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as Conv2DAttrs & { filterShape: number[] };
  const ci = convInfo(x.shape, a.filterShape, a);
  // Allocated first: a heap growth would detach views taken before it.
  const out = b.makeOutput(ci.filterShape, 'float32');
  const [xs, g, dw] = [f32(b, x), f32(b, dy), f32(b, out)];
  const [c, m] = [ci.inChannels, ci.outChannels / ci.inChannels];
  const fma = m === 1 ? fmaFor(b, c) : null;
  const [xP, gP, dwP] = [ptr(b, x), ptr(b, dy), ptr(b, out)];
  // Sums over n * oh * ow terms: in float32 lanes with SIMD (as XNNPACK would), else in float64.
  dw.fill(0);
  const acc = fma ? dw : new Float64Array(dw.length);
  forEachTap(ci, (xOff, gOff, wOff) => {
    if (fma) fma(dwP + wOff * 4, xP + xOff * 4, gP + gOff * 4, c);
    else {
      for (let ch = 0; ch < c; ch++) {
        for (let q = 0; q < m; q++) acc[wOff + ch * m + q] = acc[wOff + ch * m + q]! + xs[xOff + ch]! * g[gOff + ch * m + q]!;
      }
    }
  });
  if (acc !== dw) dw.set(acc);
  return out;
}

/** dx = dy where 0 < y < 6, else 0 (y: ReLU6's output). */
function relu6Backprop({ inputs, backend }: { inputs: Record<string, TensorInfo>; backend: unknown }): TensorInfo {
  const b = backend as WasmBackend;
  const { dy, y } = inputs as { dy: TensorInfo; y: TensorInfo };
  const out = b.makeOutput(dy.shape, 'float32');
  const [g, ys, dx] = [f32(b, dy), f32(b, y), f32(b, out)];
  const loops = simd(b);
  // SIMD over whole lanes of four, JavaScript for the rest.
  const lanes = loops ? dx.length - (dx.length % 4) : 0;
  if (loops && lanes) loops.relu6Backprop(ptr(b, out), ptr(b, dy), ptr(b, y), lanes);
  for (let i = lanes; i < dx.length; i++) {
    const v = ys[i]!;
    dx[i] = v > 0 && v < 6 ? g[i]! : 0;
  }
  return out;
}

/**
 * One AdamW step for a variable: inputs w, m, v, g; outputs w', m', v' (new buffers, as
 * tfjs ops would give: a snapshot may share the variable's). float32 throughout, each
 * operation rounded as the tfjs ops round it (Math.fround in the JavaScript remainder).
 */
function adamw({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: unknown; attrs?: NamedAttrMap }): TensorInfo[] {
  const b = backend as WasmBackend;
  const { w, m, v, g } = inputs as Record<'w' | 'm' | 'v' | 'g', TensorInfo>;
  const a = attrs as unknown as AdamWAttrs;
  const n = w.shape.reduce((p, d) => p * d, 1);
  for (const t of [m, v, g]) {
    if (t.shape.reduce((p, d) => p * d, 1) !== n) throw new Error('edgetune wasm kernel: AdamW inputs differ in size');
  }
  const outs = [w, m, v].map((t) => b.makeOutput(t.shape, 'float32')) as [TensorInfo, TensorInfo, TensorInfo];
  // Views after the allocations (a heap growth detaches views taken before it).
  const [wo, mo, vo] = outs.map((t) => f32(b, t)) as [Float32Array, Float32Array, Float32Array];
  const [ws, ms, vs, gs] = [w, m, v, g].map((t) => f32(b, t)) as [Float32Array, Float32Array, Float32Array, Float32Array];
  const fr = Math.fround;
  const scalars = [a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.c1, a.c2, a.epsilon, a.weightDecay, a.lr].map(fr);
  const [b1, ob1, b2, ob2, c1, c2, eps, wd, lr] = scalars as [number, number, number, number, number, number, number, number, number];
  const loops = simd(b);
  const lanes = loops ? n - (n % 4) : 0;
  if (loops && lanes) loops.adamw(...[...outs, w, m, v, g].map((t) => ptr(b, t)), lanes, ...scalars);
  for (let i = lanes; i < n; i++) {
    const [gi, wi] = [gs[i]!, ws[i]!];
    const mn = fr(fr(ms[i]! * b1) + fr(gi * ob1));
    const vn = fr(fr(vs[i]! * b2) + fr(fr(gi * gi) * ob2));
    const u = fr(fr(mn / c1) / fr(fr(Math.sqrt(fr(vn / c2))) + eps));
    mo[i] = mn;
    vo[i] = vn;
    wo[i] = fr(wi - fr(fr(u + fr(wi * wd)) * lr));
  }
  return outs;
}

/**
 * A float32 tensor of `shape` on the WASM heap from fp16 rows laid end to end, decoded
 * by one SIMD pass where they land (no JavaScript array, no copy into the heap after);
 * null where the current backend is not WASM or has no SIMD loops (the caller decodes).
 */
export function tensorFromHalves(rows: Uint16Array[], shape: number[]): tf.Tensor | null {
  if (tf.getBackend() !== 'wasm') return null;
  const b = tf.backend() as unknown as WasmBackend;
  const loops = simd(b);
  const n = shape.reduce((p, d) => p * d, 1);
  if (!loops || n % 4 || rows.reduce((p, r) => p + r.length, 0) !== n) return null;
  const info = b.makeOutput(shape, 'float32');
  // The halves go to the back half of the output's own bytes, then decode forward in place.
  const at = ptr(b, info);
  const halves = new Uint16Array(f32(b, info).buffer, at + 2 * n, n);
  let offset = 0;
  for (const r of rows) {
    halves.set(r, offset);
    offset += r.length;
  }
  loops.halfToFloat(at, at + 2 * n, n);
  return tf.engine().makeTensorFromTensorInfo(info);
}

/**
 * A float32 tensor of `shape` on the WASM heap from byte arrays laid end to end,
 * converted where they land by the engine's typed-array copy (no JavaScript float
 * array, no second copy into the heap); null where the current backend is not WASM.
 */
export function tensorFromBytes(parts: (Uint8Array | Uint8ClampedArray)[], shape: number[]): tf.Tensor | null {
  if (tf.getBackend() !== 'wasm') return null;
  const b = tf.backend() as unknown as WasmBackend;
  const n = shape.reduce((p, d) => p * d, 1);
  if (parts.reduce((p, d) => p + d.length, 0) !== n) return null;
  const info = b.makeOutput(shape, 'float32');
  const view = f32(b, info);
  let offset = 0;
  for (const d of parts) {
    view.set(d, offset);
    offset += d.length;
  }
  return tf.engine().makeTensorFromTensorInfo(info);
}

function identityNoCopy({ inputs, backend }: { inputs: Record<string, TensorInfo>; backend: unknown }): TensorInfo {
  const { x } = inputs as { x: TensorInfo };
  (backend as WasmBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

const KERNELS: KernelConfig[] = [
  { kernelName: tf.DepthwiseConv2dNativeBackpropInput, backendName: 'wasm', kernelFunc: depthwiseBackpropInput as never },
  { kernelName: tf.DepthwiseConv2dNativeBackpropFilter, backendName: 'wasm', kernelFunc: depthwiseBackpropFilter as never },
  { kernelName: RELU6_BACKPROP, backendName: 'wasm', kernelFunc: relu6Backprop as never },
  { kernelName: ADAMW, backendName: 'wasm', kernelFunc: adamw as never },
  { kernelName: tf.Identity, backendName: 'wasm', kernelFunc: identityNoCopy as never },
];

let registered = false;

/**
 * Registers the kernels above for the 'wasm' backend (call once tfjs-backend-wasm
 * is loaded: its own Identity is replaced, and its Sum and Transpose wrapped by
 * faster paths with the same results, wasm-layout.ts). Kernels the backend already
 * has (a later tfjs-backend-wasm may add the depthwise gradients) are left alone.
 */
export function registerWasmTrainingKernels(): void {
  if (registered || !tf.getKernel(tf.Identity, 'wasm')) return;
  for (const k of KERNELS) {
    if (k.kernelName === tf.Identity) tf.unregisterKernel(k.kernelName, 'wasm');
    else if (tf.getKernel(k.kernelName, 'wasm')) continue;
    tf.registerKernel(k);
  }
  const matMul = tf.getKernel(tf.BatchMatMul, 'wasm');
  if (matMul && !tf.getKernel(tf.Conv2DBackpropFilter, 'wasm')) {
    tf.registerKernel({ kernelName: tf.Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: conv2dBackpropFilter(matMul.kernelFunc) as never });
  }
  for (const [name, wrap] of Object.entries(LAYOUT_KERNELS)) {
    const stock = tf.getKernel(name, 'wasm');
    if (!stock) continue;
    STOCK.set(name, stock.kernelFunc);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(wrapStock(stock, wrap));
  }
  registered = true;
}

/** tfjs-backend-wasm's own kernels that registration wrapped, by name (for tests that compare the two). */
const STOCK = new Map<string, tf.KernelFunc>();
export const stockWasmKernel = (name: string): tf.KernelFunc | undefined => STOCK.get(name);

/** ReLU6 with a gradient that needs only its output (one pass on WASM, stock ops elsewhere). */
export const relu6 = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const y = tf.clipByValue(x, 0, 6);
  save([y]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) =>
      tf.getKernel(RELU6_BACKPROP, tf.getBackend())
        ? (tf.engine().runKernel(RELU6_BACKPROP, { dy, y: saved! }) as tf.Tensor)
        : tf.mul(dy, tf.step(tf.mul(saved!, tf.sub(6, saved!)))),
  };
}) as never) as unknown as (x: tf.Tensor) => tf.Tensor;
