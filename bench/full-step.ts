// The cost of a training step against the floor, per image, on tfjs-backend-wasm
// in Node, side by side in one run:
//   floor    the frozen backbone's forward pass (GraphModel), batch 8;
//   full     one step of the full strategy (every layer forward and backward,
//            AdamW update), through trainHead as fineTune runs it, batch 8 (split
//            into micro-batches as the step memory budget says);
//   partial  one step of the partial strategy's default tail (6 blocks) over its
//            cached prefix activations, batch 32.
// Rounds interleave the three so that the VM's drift hits them alike.
//   node --import tsx bench/full-step.ts [rounds=3] [threads=2] [full step memory MiB]
// Writes bench/results/full-step-latest.json; prints it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { TRAIN_DEFAULTS, resolveTrainConfig } from '../src/engine/config.js';
import { createEngine } from '../src/engine/engine.js';
import { FeatureRows } from '../src/engine/data/feature-rows.js';
import { featureStats, Head } from '../src/engine/model/head.js';
import { Tail } from '../src/engine/model/tail.js';
import { trainHead, type TailFeed } from '../src/engine/train/loop.js';
import { microBatchFor } from '../src/engine/train/strategies/tail-strategy.js';
import { onnxGemm } from '../src/node/onnx-gemm.js';
import { nodeWasmThreads } from '../src/node/wasm-threads.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.argv[2] ?? 3);
const threads = Number(process.argv[3] ?? Math.min(2, availableParallelism()));
/** The full step's memory budget in MiB (default: the strategy's, 1 GiB). */
const stepMemoryMiB = process.argv[4] ? Number(process.argv[4]) : undefined;
const engine = await createEngine({ backends: ['wasm'], wasmThreads: threads, wasmThreadsHost: nodeWasmThreads() });
const bb = engine.backbone;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** ms per image of the frozen forward pass at batch `n` (the mean of `reps` passes after one warm-up). */
async function floor(n: number, reps = 4): Promise<number> {
  const x = tf.randomUniform([n, 224, 224, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const pass = async () => {
    const y = tf.tidy(() => bb.embed(x));
    await y.data();
    y.dispose();
  };
  await pass();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await pass();
  x.dispose();
  return (performance.now() - t0) / reps / n;
}

/** ms per image of one epoch of `rows` rows through trainHead with `tail` (one step per batch), and the step's peak bytes. */
async function steps(tail: Tail, strategy: 'full' | 'partial', batchSize: number, rows: number): Promise<{ msPerImage: number; peakBytes: number; microBatch: number }> {
  const memory = strategy === 'full' && stepMemoryMiB ? { full: { stepMemoryBytes: stepMemoryMiB * 2 ** 20 } } : {};
  const cfg = { ...resolveTrainConfig({ strategy, batchSize, epochs: 1, augment: 0, validationSplit: 0, ...memory }), augment: 0 };
  const micro = strategy === 'full' ? microBatchFor(tail.forwardBytesPerImage, cfg) : undefined;
  const [h, w, c] = tail.prefixShape;
  const x = tf.randomUniform([batchSize, h, w, c], 0, strategy === 'full' ? 1 : 2, 'float32', 2) as tf.Tensor4D;
  const feed: TailFeed = { tail, lrRatio: cfg.backboneLearningRate / cfg.learningRate, ...(micro ? { microBatch: micro } : {}), batch: async (r) => tf.slice(x, 0, r.length) };
  const d = bb.manifest.embeddingSize;
  const labels = Int32Array.from({ length: rows }, (_, i) => i % 3);
  const data = { x: new FeatureRows(new Float32Array(rows * d), d), labels, views: Array.from({ length: rows }, (_, i) => [i]), trainIdx: [...labels.keys()], valIdx: [], numClasses: 3, classWeights: Float32Array.of(1, 1, 1) };
  const head = Head.create({ inputSize: d, numClasses: 3, hiddenUnits: 0 }, tf.tidy(() => featureStats(tf.randomNormal([8, d]) as tf.Tensor2D)), 1);
  try {
    // One warm-up step, then the timed epoch.
    await trainHead(head, { ...data, trainIdx: data.trainIdx.slice(0, batchSize) }, cfg, {}, feed);
    const t0 = performance.now();
    const res = await trainHead(head, data, cfg, {}, feed);
    return { msPerImage: (performance.now() - t0) / rows, peakBytes: res.peakBytes, microBatch: micro ?? batchSize };
  } finally {
    head.dispose();
    x.dispose();
  }
}

const full = await Tail.fromBackbone(bb, 'all');
// The CLI's way in Node: the 1x1 convolutions' products on ONNX Runtime's Gemm (when onnxruntime-node is installed).
const ort = await import('onnxruntime-node').catch(() => null);
const gemm = ort ? onnxGemm(ort as never, threads) : null;
const fullOrt = gemm ? await Tail.fromBackbone(bb, 'all') : null;
fullOrt?.useGemm(gemm ?? undefined);
const partial = await Tail.fromBackbone(bb, 6);
const runs: { floor: number; full: number; fullOrt?: number; partial: number; fullPeak: number; microBatch: number }[] = [];
for (let r = 0; r < rounds; r++) {
  const f1 = await floor(8);
  const fs = await steps(full, 'full', 8, 16);
  const ps = await steps(partial, 'partial', 32, 64);
  const fo = fullOrt ? await steps(fullOrt, 'full', 8, 16) : null;
  const f2 = await floor(8);
  const fl = (f1 + f2) / 2;
  runs.push({ floor: fl, full: fs.msPerImage, ...(fo ? { fullOrt: fo.msPerImage } : {}), partial: ps.msPerImage, fullPeak: fs.peakBytes, microBatch: fs.microBatch });
  process.stderr.write(`[bench full-step] round ${r + 1}: floor ${fl.toFixed(1)} ms/img, full ${fs.msPerImage.toFixed(1)} ms/img (x${(fs.msPerImage / fl).toFixed(2)}), partial ${ps.msPerImage.toFixed(1)} ms/img (x${(ps.msPerImage / fl).toFixed(2)})\n`);
}
const result = {
  backend: 'wasm (Node)',
  threads,
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model },
  date: new Date().toISOString().slice(0, 10),
  floorMsPerImage: Number(median(runs.map((r) => r.floor)).toFixed(2)),
  fullStepMsPerImage: Number(median(runs.map((r) => r.full)).toFixed(2)),
  partialStepMsPerImage: Number(median(runs.map((r) => r.partial)).toFixed(2)),
  fullStepRatioToFloor: Number(median(runs.map((r) => r.full / r.floor)).toFixed(2)),
  ...(fullOrt ? { fullStepOrtGemmMsPerImage: Number(median(runs.map((r) => r.fullOrt!)).toFixed(2)), fullStepOrtGemmRatioToFloor: Number(median(runs.map((r) => r.fullOrt! / r.floor)).toFixed(2)) } : {}),
  partialStepRatioToFloor: Number(median(runs.map((r) => r.partial / r.floor)).toFixed(2)),
  fullStepPeakMiB: Math.round(Math.max(...runs.map((r) => r.fullPeak)) / 2 ** 20),
  fullMicroBatch: runs[0]!.microBatch,
  defaults: { batchSize: TRAIN_DEFAULTS.batchSize },
  runs,
};
full.dispose();
partial.dispose();
engine.dispose();
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/full-step-latest.json'), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
