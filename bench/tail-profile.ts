// Kernel-level profile of one training step of the partial strategy's tail on WASM
// (Node): `node --import tsx bench/tail-profile.ts [blocks] [threads]`. Prints one JSON object:
// the step's wall time under the profiler, its kernel count, and time per kernel name.
// tf.profile times each kernel apart, so it says where a step goes, not how fast it is
// (bench/node-suite.ts --partial-only measures that).
import * as tf from '@tensorflow/tfjs-core';
import { createEngine } from '../src/engine/engine.js';
import { Tail } from '../src/engine/model/tail.js';
import { nodeWasmThreads } from '../src/node/wasm-threads.js';

const blocks = Number(process.argv[2] ?? 4);
const threads = Number(process.argv[3] ?? 1);
const engine = await createEngine({ backends: ['wasm'], wasmThreads: threads, wasmThreadsHost: nodeWasmThreads() });
const tail = await Tail.fromBackbone(engine.backbone, blocks);
const batch = 32;
const step = () => {
  const x = tf.randomUniform([batch, ...tail.prefixShape], 0, 2, 'float32', 3) as tf.Tensor4D;
  const { value, grads } = tf.variableGrads(() => tf.sum(tail.apply(x)) as tf.Scalar, tail.variables);
  value.dataSync();
  tf.dispose([x, value, ...Object.values(grads)]);
};
step();
const t0 = performance.now();
const prof = await tf.profile(step);
const wallMs = performance.now() - t0;
const byName = new Map<string, { calls: number; ms: number }>();
// Multiply-adds of the step's matMuls ([b, m, k] x [b, k, n]): the work a step cannot skip.
let matMulMacs = 0;
for (const k of prof.kernels) {
  if (k.name === 'BatchMatMul') {
    const [a, b] = k.inputShapes as number[][];
    matMulMacs += a!.reduce((p, x) => p * x, 1) * b![b!.length - 1]!;
  }
  const a = byName.get(k.name) ?? { calls: 0, ms: 0 };
  a.calls++;
  a.ms += k.kernelTimeMs as number;
  byName.set(k.name, a);
}
const round = (x: number) => Math.round(x * 10) / 10;
process.stdout.write(
  JSON.stringify({
    backend: engine.backend.name,
    blocks,
    threads: engine.backend.details.threads,
    batch,
    prefixShape: tail.prefixShape,
    wallMs: round(wallMs),
    kernels: prof.kernels.length,
    matMulGMacs: round(matMulMacs / 1e9),
    // Custom-gradient ops ('forward') and fused-op wrappers also count the kernels they run.
    byName: Object.fromEntries([...byName].sort((a, b) => b[1].ms - a[1].ms).map(([k, v]) => [k, { calls: v.calls, ms: round(v.ms) }])),
  }) + '\n',
);
tail.dispose();
await engine.dispose();
