// Runs in headless Chromium: the shipped SDK (/dist/index.js, worker + WASM)
// for fineTune, predict latency, cold start and main-thread health, and the engine
// in a worker of its own (bench-worker.ts, same backend) for the backbone floor and
// the naive baseline, so both sides run where a worker runs them.
import * as Comlink from 'comlink';
// @ts-expect-error resolved by the browser at run time
import { createClassifier } from '/dist/index.js';
import type { Classifier } from '../../src/client/classifier.js';
import { toImageData } from '../../src/testing/dom.js';
import type { BackendName } from '../../src/types.js';
import { images, EPOCHS } from '../lib/engine-suite.js';
import { bracketedRounds, FLOOR_BATCHES, FLOOR_IMAGES, summarizeRounds, type FloorSample } from '../lib/rounds.js';
import { measure, quantile, round } from '../lib/stats.mjs';
import type { BenchWorkerApi } from './bench-worker.js';


interface PageOptions {
  backends: BackendName[];
  quick: boolean;
  /** Only the backbone floor (for the threads and WebGPU comparisons). */
  floorOnly?: boolean;
  n: number;
  naiveN: number;
  /** WASM threads for the engine in the page (the SDK's default when absent). */
  wasmThreads?: number;
}

/** The engine's half in its own worker (bench-worker.ts); terminated before the SDK's worker starts. */
async function engineRun(o: PageOptions & { floorBatches?: number[]; floorImages?: number }): Promise<Record<string, unknown>> {
  const worker = new Worker('/bench/.build/bench-worker.js', { type: 'module' });
  try {
    return await Comlink.wrap<BenchWorkerApi>(worker).run({ backends: o.backends, quick: o.quick, floorOnly: o.floorOnly, floorBatches: o.floorBatches, floorImages: o.floorImages, naiveN: o.naiveN, n: o.n, wasmThreads: o.wasmThreads });
  } finally {
    // Its memory and WASM threads go before the SDK's worker starts.
    worker.terminate();
  }
}

/** Adds n new generated images (ImageData, as a page has them) to a classifier, by label. */
async function addImages(clf: Classifier, set: ReturnType<typeof images>): Promise<void> {
  const byLabel = new Map<string, ImageData[]>();
  for (const s of set) (byLabel.get(s.label) ?? byLabel.set(s.label, []).get(s.label)!).push(toImageData(s.img));
  for (const [label, imgs] of byLabel) await clf.addExamples(label, imgs);
}

/** A cold fineTune (no cache) of n new images in a fresh SDK classifier, as round 0's. */
async function coldFineTune(o: PageOptions, seed: number): Promise<{ ms: number; embedMs: number; trainMs: number }> {
  const clf = await createClassifier({ backends: o.backends, persistentCacheBytes: 0 });
  try {
    await addImages(clf, images(o.n, seed));
    const t0 = performance.now();
    const report = await clf.fineTune({ epochs: EPOCHS, augment: 0, patience: EPOCHS });
    return { ms: performance.now() - t0, embedMs: report.embedMs, trainMs: report.trainMs };
  } finally {
    await clf.dispose();
  }
}

/** Cold fineTunes, each between two floors measured in workers of their own (rounds.ts). */
async function sdkFineTuneRounds(o: PageOptions, count: number) {
  const measureFloor = async () => (await engineRun({ ...o, floorOnly: true, floorBatches: FLOOR_BATCHES, floorImages: FLOOR_IMAGES })).floor as FloorSample;
  return summarizeRounds(o.n, await bracketedRounds(count, measureFloor, (r) => coldFineTune(o, 1000 + r)));
}

/**
 * predict's latency (batch 1) against one backbone forward pass called the same way: from
 * the page, one image per call, through a worker of its own (bench-worker.ts, same
 * backend). The two alternate call by call, so the VM's drift hits both alike; medians.
 */
async function predictVsForward(o: PageOptions, clf: Classifier, probe: ImageData, repeats: number) {
  const worker = new Worker('/bench/.build/bench-worker.js', { type: 'module' });
  const engine = Comlink.wrap<BenchWorkerApi>(worker);
  const time = async (f: () => Promise<unknown>) => {
    const t0 = performance.now();
    await f();
    return performance.now() - t0;
  };
  try {
    await engine.open({ backends: o.backends, wasmThreads: o.wasmThreads });
    const forward: number[] = [];
    const predict: number[] = [];
    for (let i = -5; i < repeats; i++) {
      const f = await time(() => engine.forwardOnce());
      const p = await time(() => clf.predict(probe));
      if (i < 0) continue; // warm-up
      forward.push(f);
      predict.push(p);
    }
    // For comparison: the same engine's pass timed in a loop inside its worker.
    const loopMs = await engine.forwardLoopMs(repeats);
    return { p50Ms: quantile(predict, 0.5), p95Ms: quantile(predict, 0.95), forwardMs: quantile(forward, 0.5), forwardLoopMs: loopMs };
  } finally {
    await engine.close();
    worker.terminate();
  }
}

async function runBench(o: PageOptions) {
  const longTasks: number[] = [];
  new PerformanceObserver((l) => l.getEntries().forEach((e) => longTasks.push(e.duration))).observe({ type: 'longtask' });
  const out = await engineRun(o);
  if (o.floorOnly) return out;

  // The SDK in its worker: cold fineTune (no cache), then re-training after 10 more images.
  const clf = await createClassifier({ backends: o.backends, persistentCacheBytes: 0 });
  await clf.clearCache();
  await addImages(clf, images(o.n, o.n));
  longTasks.length = 0;
  let t0 = performance.now();
  const report = await clf.fineTune({ epochs: EPOCHS, augment: 0, patience: EPOCHS });
  const fineTuneMs = performance.now() - t0;
  const trainLongTasks = [...longTasks];
  await addImages(clf, images(10, 999));
  t0 = performance.now();
  const again = await clf.fineTune({ epochs: EPOCHS, augment: 0, patience: EPOCHS });
  const retrainMs = performance.now() - t0;

  // predict through the worker round trip, batch 1, against a bare forward pass called the same way.
  const probe = toImageData(images(1, 5)[0]!.img);
  longTasks.length = 0;
  const lat = await predictVsForward(o, clf, probe, o.quick ? 20 : 60);
  const predictLongTasks = [...longTasks];
  const batch16 = images(16, 6).map((s) => toImageData(s.img));
  const thr = await measure(() => clf.predictBatch(batch16), { warmup: 1, repeats: o.quick ? 3 : 5 });
  const files = await clf.export();
  await clf.dispose();

  // Cold start: a new classifier (worker, backend, backbone load and warm-up), a model import, the first prediction.
  const cold = await measure(
    async () => {
      const c = await createClassifier({ backends: o.backends, persistentCacheBytes: 0 });
      await c.import(files);
      await c.predict(probe);
      await c.dispose();
    },
    { warmup: 0, repeats: o.quick ? 2 : 3 },
  );
  Object.assign(out, {
    firstFineTune: { ms: round(fineTuneMs, 0), embedMs: round(report.embedMs, 0), trainMs: round(report.trainMs, 0) },
    fineTune: await sdkFineTuneRounds(o, o.quick ? 1 : 7),
    retrain: { ms: round(retrainMs, 0), speedup: round(fineTuneMs / retrainMs, 2), backbonePasses: again.embeddingsComputed, embedMs: round(again.embedMs, 0), trainMs: round(again.trainMs, 0) },
    predict: {
      p50Ms: round(lat.p50Ms),
      p95Ms: round(lat.p95Ms),
      forwardMs: round(lat.forwardMs),
      forwardLoopMs: round(lat.forwardLoopMs),
      overForward: round(lat.p50Ms / lat.forwardMs, 3),
      batch16ImagesPerS: round((16 * 1000) / thr.median, 1),
    },
    coldStartMs: round(cold.median, 0),
    longTasks: {
      fineTune: { count: trainLongTasks.length, maxMs: round(Math.max(0, ...trainLongTasks), 0) },
      predictLoop: { count: predictLongTasks.length, maxMs: round(Math.max(0, ...predictLongTasks), 0), p95Ms: round(quantile(predictLongTasks, 0.95) || 0, 0) },
    },
  });
  return out;
}

(globalThis as unknown as { runBench: typeof runBench }).runBench = runBench;
document.title = 'ready';
