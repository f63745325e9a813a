// Kernel-level profile of head training on WASM (Node), over random embeddings:
// `node --import tsx bench/head-profile.ts [threads] [rows] [classes]`. Prints one JSON
// object: the wall time of trainHead (20 epochs, as the bench's fineTune), its kernel
// count per step, and time per kernel name of one profiled run.
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/engine/backend.js';
import { resolveTrainConfig } from '../src/engine/config.js';
import { FeatureRows } from '../src/engine/data/feature-rows.js';
import { Head, featureStats } from '../src/engine/model/head.js';
import { trainHead, type TrainData } from '../src/engine/train/loop.js';
import { nodeWasmThreads } from '../src/node/wasm-threads.js';

const threads = Number(process.argv[2] ?? 1);
const rows = Number(process.argv[3] ?? 200);
const classes = Number(process.argv[4] ?? 5);
const dim = 1792;
const backend = await selectBackend({ backends: ['wasm'], wasmThreads: threads, wasmThreadsHost: nodeWasmThreads() });
let s = 1;
const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647);
const values = Float32Array.from({ length: rows * dim }, () => rnd() * 2);
const labels = Int32Array.from({ length: rows }, (_, i) => i % classes);
const ids = [...Array(rows).keys()];
const nVal = Math.round(rows * 0.15);
const data: TrainData = {
  x: new FeatureRows(values, dim),
  labels,
  views: ids.map((i) => [i]),
  trainIdx: ids.slice(nVal),
  valIdx: ids.slice(0, nVal),
  numClasses: classes,
  classWeights: new Float32Array(classes).fill(1),
};
const cfg = { ...resolveTrainConfig({ epochs: 20, patience: 20, augment: 0 }), augment: 0 };
const run = async () => {
  const stats = tf.tidy(() => featureStats(data.x.gather(data.trainIdx)));
  const head = Head.create({ inputSize: dim, numClasses: classes, hiddenUnits: 0 }, stats, 1);
  const r = await trainHead(head, data, cfg);
  head.dispose();
  return r;
};
await run();
const times: number[] = [];
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  await run();
  times.push(performance.now() - t0);
}
const byName = new Map<string, { calls: number; ms: number }>();
let nKernels = 0;
const prof = await tf.profile(async () => void (await run()));
for (const k of prof.kernels) {
  nKernels++;
  const a = byName.get(k.name) ?? { calls: 0, ms: 0 };
  a.calls++;
  a.ms += k.kernelTimeMs as number;
  byName.set(k.name, a);
}
const steps = 20 * Math.ceil((rows - nVal) / cfg.batchSize);
const round = (x: number) => Math.round(x * 10) / 10;
process.stdout.write(
  JSON.stringify({
    backend: backend.name,
    threads: backend.details.threads,
    rows,
    classes,
    trainMs: times.map(round),
    steps,
    kernelsPerStep: round(nKernels / steps),
    byName: Object.fromEntries([...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25).map(([k, v]) => [k, { calls: v.calls, ms: round(v.ms) }])),
  }) + '\n',
);
