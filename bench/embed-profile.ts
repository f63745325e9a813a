// Where fineTune's embedding pass goes beyond the backbone floor (Node, WASM):
// `node --import tsx bench/embed-profile.ts [threads]`. Prints one JSON object:
// the floor per image at batch 16, the same batch built from 96x96 images
// (preprocessing alone and preprocessing + forward), fineTune's embedding pass per
// image, and the preprocessing's kernels by time.
import * as tf from '@tensorflow/tfjs-core';
import { createEngine } from '../src/engine/engine.js';
import type { Embedder } from '../src/engine/data/embed.js';
import { FULL_VIEW } from '../src/engine/data/preprocess.js';
import { nodeWasmThreads } from '../src/node/wasm-threads.js';
import { embedPassMs, floor, images } from './lib/engine-suite.js';
import { measure, round } from './lib/stats.mjs';

const threads = Number(process.argv[2] ?? 1);
const opts = { backends: ['wasm' as const], wasmThreads: threads, wasmThreadsHost: nodeWasmThreads() };
const engine = await createEngine(opts);
const b = 16;
const fl = await floor(engine, [b], 3);
const embedder = (engine as unknown as { embedder: Embedder }).embedder;
const batch = images(b, 4).map((s) => ({ img: s.img, boxes: [FULL_VIEW] }));
const inputOf = () => (embedder as unknown as { inputOf: (x: typeof batch) => tf.Tensor4D }).inputOf(batch);
const pre = await measure(async () => {
  const x = inputOf();
  await x.data();
  x.dispose();
}, { warmup: 1, repeats: 5 });
const full = await measure(() => embedder.embedViews(batch), { warmup: 1, repeats: 3 });
const prof = await tf.profile(() => inputOf());
tf.dispose(prof.result);
const byName: Record<string, number> = {};
for (const k of prof.kernels) byName[k.name] = round((byName[k.name] ?? 0) + (k.kernelTimeMs as number));
const n = 96;
const passMs = await embedPassMs(engine, n);
process.stdout.write(
  JSON.stringify({
    threads: engine.backend.details.threads,
    floorMsPerImage: fl.bestMs,
    preprocessMsPerImage: round(pre.median / b),
    embedViewsMsPerImage: round(full.median / b),
    embedPassMsPerImage: round(passMs / n),
    preprocessKernels: byName,
  }) + '\n',
);
