// The part of tfjs-backend-wasm's BackendWasm that edgetune's kernels use, and
// their access to its heap: tensors as views or byte pointers, and the SIMD loops
// (wasm-simd.ts) instantiated over the same memory.
import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';
import { simdLoops, type SimdLoops } from './wasm-simd.js';

export interface WasmBackend {
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  incRef(dataId: object): void;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  /** The Emscripten module: the heap's WebAssembly.Memory is `asm.memory` (exported) or `wasmMemory` (imported, threaded builds). */
  wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown };
}

/** The SIMD loops on this backend's heap, or null without WebAssembly SIMD. */
export function simd(b: WasmBackend): SimdLoops | null {
  const memory = b.wasm?.asm?.memory ?? b.wasm?.wasmMemory;
  return memory instanceof WebAssembly.Memory ? simdLoops(memory) : null;
}

/** The SIMD multiply-accumulate, when it applies to rows of `channels` floats. */
export const fmaFor = (b: WasmBackend, channels: number) => (channels % 4 === 0 ? (simd(b)?.fma ?? null) : null);

/** A tensor's byte offset in the heap. */
export const ptr = (b: WasmBackend, t: TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset;

/** A float32 tensor's view on the heap (take views after allocating: a heap growth detaches earlier ones). */
export const f32 = (b: WasmBackend, t: TensorInfo) => {
  if (t.dtype !== 'float32') throw new Error(`edgetune wasm kernel: expected float32, got ${t.dtype}`);
  return b.typedArrayFromHeap(t);
};
