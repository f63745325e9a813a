// Faster Sum (over leading axes) and 2-D Transpose for tfjs-backend-wasm, with the
// same bits as its own kernels, which they replace and fall back to.
//
// Every training step of the partial strategy's tail needs both: the bias gradients
// are sums over all pixels ([n*h*w, c] -> [c]) and each 1x1 convolution's weight
// gradient multiplies a transposed activation. The backend's Sum first transposes
// the reduced axes innermost (a strided copy) and then sums each row; its Transpose
// copies one element at a time. Together they were about a fifth of a step's kernel
// time (`bench/tail-profile.ts`). Here a column sum adds whole rows into the output
// in row order (each output is the same sequence of float32 additions as the
// backend's loop, so the same value), and the transpose moves 4x4 blocks through
// SIMD lane shuffles (a copy: the same values by construction).
import { util, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { f32, ptr, simd, type WasmBackend } from './wasm-backend.js';

type KernelArgs = { inputs: Record<string, TensorInfo>; backend: unknown; attrs?: NamedAttrMap };

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

/** Sum over the leading `k` axes of a float32 tensor with a row length that is a multiple of 4; else the stock kernel. */
export function columnSum(stock: KernelFunc): KernelFunc {
  return ((args: KernelArgs) => {
    const b = args.backend as WasmBackend;
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const loops = simd(b);
    // Axes 0..k-1 in that order: the stock kernel then sums each column in row order too.
    const axes = util.parseAxisParam(axis, x.shape);
    const k = axes.length;
    const [rows, cols] = [size(x.shape.slice(0, k)), size(x.shape.slice(k))];
    const leading = axes.every((a, i) => a === i) && k > 0 && k < x.shape.length;
    if (!loops || x.dtype !== 'float32' || !leading || cols % 4 !== 0 || rows === 0 || cols === 0) return stock(args as never);
    const out = b.makeOutput(keepDims ? x.shape.map((d, i) => (i < k ? 1 : d)) : x.shape.slice(k), 'float32');
    f32(b, out).fill(0);
    const [o, xp] = [ptr(b, out), ptr(b, x)];
    for (let r = 0; r < rows; r++) loops.add(o, o, xp + r * cols * 4, cols);
    return out;
  }) as unknown as KernelFunc;
}

/** A 2-D transpose of 32-bit values with both sides multiples of 4; else the stock kernel. */
export function blockTranspose(stock: KernelFunc): KernelFunc {
  return ((args: KernelArgs) => {
    const b = args.backend as WasmBackend;
    const { x } = args.inputs as { x: TensorInfo };
    const { perm } = args.attrs as unknown as { perm: number[] };
    const loops = simd(b);
    const [rows, cols] = x.shape as [number, number];
    const swap = x.shape.length === 2 && perm[0] === 1 && perm[1] === 0;
    if (!loops || (x.dtype !== 'float32' && x.dtype !== 'int32') || !swap || rows % 4 !== 0 || cols % 4 !== 0 || rows * cols === 0) return stock(args as never);
    const out = b.makeOutput([cols, rows], x.dtype);
    loops.transpose(ptr(b, out), ptr(b, x), rows, cols);
    return out;
  }) as unknown as KernelFunc;
}

/** The replacements, by kernel name: each wraps the stock kernel it falls back to. */
export const LAYOUT_KERNELS: Record<string, (stock: KernelFunc) => KernelFunc> = { Sum: columnSum, Transpose: blockTranspose };

/** A replacement's config: the stock kernel's setup and dispose stay (they bind the fallback). */
export function wrapStock(stock: KernelConfig, wrap: (stock: KernelFunc) => KernelFunc): KernelConfig {
  return { ...stock, kernelFunc: wrap(stock.kernelFunc) };
}
