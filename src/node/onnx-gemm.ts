// ONNX Runtime's matrix product (MLAS, every core, the CPU's widest FMA) for the
// partial strategy's tail, whose training step is ~86% matMuls: on a 2-core AVX-512
// machine MLAS ran the tail's shapes at 20-57 G multiply-adds/s against ~11 for
// tfjs-backend-wasm's XNNPACK (128-bit SIMD, no FMA).
//
// tfjs calls a gradient synchronously, and onnxruntime-node's public session.run is
// asynchronous; its native binding, which that run wraps in a setImmediate, is
// synchronous and typed (`dist/binding.d.ts`: "a simple synchronized inference
// session object wrap"). This file is the only user of it.
import { createRequire } from 'node:module';
import onnxProto from 'onnx-proto';
import type * as OrtType from 'onnxruntime-node';
import type { HostGemm } from '../engine/model/forward.js';

const { onnx } = onnxProto as unknown as typeof import('onnx-proto');

interface BindingSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: OrtType.InferenceSession.SessionOptions): void;
  run(feeds: Record<string, OrtType.Tensor>, fetches: Record<string, null>, options: object): Record<string, OrtType.Tensor>;
  dispose(): void;
}
interface Binding {
  binding: { InferenceSession: new () => BindingSession };
  initOrt(): void;
}

/** A one-op model y = op(a) x op(b) with symbolic dimensions (ONNX Runtime fuses the transposes into the product). */
function productModel(transA: boolean, transB: boolean): Uint8Array {
  const F = onnx.TensorProto.DataType.FLOAT;
  const value = (name: string, dims: string[]) => ({ name, type: { tensorType: { elemType: F, shape: { dim: dims.map((dimParam) => ({ dimParam })) } } } });
  const perm = { name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [1, 0] };
  const node: import('onnx-proto').onnx.INodeProto[] = [];
  const operand = (x: string, t: boolean) => {
    if (!t) return x;
    node.push({ opType: 'Transpose', name: `${x}T`, input: [x], output: [`${x}T`], attribute: [perm] });
    return `${x}T`;
  };
  node.push({ opType: 'MatMul', name: 'y', input: [operand('a', transA), operand('b', transB)], output: ['y'] });
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 18 }],
    producerName: 'edgetune',
    graph: { name: 'product', node, input: [value('a', ['a0', 'a1']), value('b', ['b0', 'b1'])], output: [value('y', ['m', 'n'])] },
  };
  return onnx.ModelProto.encode(model).finish();
}

/**
 * ONNX Runtime's synchronous matrix product on `threads` threads, or null when this
 * onnxruntime-node has no synchronous binding where 1.x keeps it (the tail then
 * trains on tfjs' product, slower, same model up to rounding).
 */
export function onnxGemm(ort: typeof OrtType, threads: number): (HostGemm & { dispose(): void }) | null {
  let b: Binding;
  try {
    const require = createRequire(import.meta.url);
    b = require('onnxruntime-node/dist/binding.js') as Binding;
    if (typeof b.binding?.InferenceSession !== 'function' || typeof b.initOrt !== 'function') return null;
    b.initOrt();
  } catch {
    return null;
  }
  const options: OrtType.InferenceSession.SessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // Busy-waiting threads would steal the cores tfjs runs the rest of the step on.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const sessions = new Map<string, BindingSession>();
  const session = (ta: boolean, tb: boolean) => {
    const key = `${ta}${tb}`;
    let s = sessions.get(key);
    if (!s) {
      const bytes = productModel(ta, tb);
      s = new b.binding.InferenceSession();
      s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, options);
      sessions.set(key, s);
    }
    return s;
  };
  const gemm = (a: Float32Array, aShape: readonly [number, number], bm: Float32Array, bShape: readonly [number, number], ta: boolean, tb: boolean) => {
    const out = session(ta, tb).run({ a: new ort.Tensor('float32', a, [...aShape]), b: new ort.Tensor('float32', bm, [...bShape]) }, { y: null }, {});
    return out.y!.data as Float32Array;
  };
  return Object.assign(gemm, {
    dispose() {
      for (const s of sessions.values()) s.dispose();
      sessions.clear();
    },
  });
}
