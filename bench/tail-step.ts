// One training step of the partial strategy's tail (forward and backward, batch 32)
// on tfjs-backend-wasm (Node), with the 1x1 convolutions' products on tfjs and on
// ONNX Runtime, side by side in one run:
//   node --import tsx bench/tail-step.ts [blocks=6] [threads=2] [reps=5]
// Prints one JSON object: median step ms per product and how far the gradients differ.
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { createEngine } from '../src/engine/engine.js';
import { Tail } from '../src/engine/model/tail.js';
import { loadOnnxRuntime } from '../src/node/onnx-forward.js';
import { onnxGemm } from '../src/node/onnx-gemm.js';
import { nodeWasmThreads } from '../src/node/wasm-threads.js';

const blocks = Number(process.argv[2] ?? 6);
const threads = Number(process.argv[3] ?? Math.min(2, availableParallelism()));
const reps = Number(process.argv[4] ?? 5);
const engine = await createEngine({ backends: ['wasm'], wasmThreads: threads, wasmThreadsHost: nodeWasmThreads() });
const tail = await Tail.fromBackbone(engine.backbone, blocks);
const gemm = onnxGemm(await loadOnnxRuntime(), threads);
if (!gemm) throw new Error('onnxruntime-node has no synchronous binding here');
const x = tf.randomUniform([32, ...tail.prefixShape], 0, 2, 'float32', 3) as tf.Tensor4D;

/** The step's gradients, read back (a step ends when its numbers are on the host). */
function step(): Float32Array[] {
  const { value, grads } = tf.variableGrads(() => tf.sum(tail.apply(x)) as tf.Scalar, tail.variables);
  const out = tail.variables.map((v) => grads[v.name]!.dataSync() as Float32Array);
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

function timed(product: 'tfjs' | 'onnxruntime') {
  tail.useGemm(product === 'tfjs' ? undefined : gemm!);
  const grads = step();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    step();
    ms.push(performance.now() - t0);
  }
  return { grads, ms: ms.sort((a, b) => a - b) };
}

const before = tf.memory().numTensors;
// Interleaved, so that machine noise falls on both.
const a = timed('tfjs');
const b = timed('onnxruntime');
const a2 = timed('tfjs');
const b2 = timed('onnxruntime');
let maxRel = 0;
a.grads.forEach((g, i) => {
  const h = b.grads[i]!;
  let scale = 0;
  for (const v of g) scale = Math.max(scale, Math.abs(v));
  for (let j = 0; j < g.length; j++) maxRel = Math.max(maxRel, Math.abs(g[j]! - h[j]!) / (scale || 1));
});
const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
const round = (v: number) => Math.round(v * 10) / 10;
process.stdout.write(
  JSON.stringify({
    blocks,
    threads: engine.backend.details.threads,
    batch: 32,
    prefixShape: tail.prefixShape,
    stepMs: { tfjs: round(median([...a.ms, ...a2.ms])), onnxruntime: round(median([...b.ms, ...b2.ms])) },
    runs: { tfjs: [...a.ms, ...a2.ms].map(round), onnxruntime: [...b.ms, ...b2.ms].map(round) },
    // Largest difference of any gradient entry, relative to that gradient's largest magnitude.
    gradMaxRelDiff: maxRel,
    tensorsLeaked: tf.memory().numTensors - before,
  }) + '\n',
);
x.dispose();
gemm.dispose();
tail.dispose();
await engine.dispose();
