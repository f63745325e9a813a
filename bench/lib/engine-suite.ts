// Engine measurements shared by the Node and the browser (in-page) runs: the
// backbone floor, fineTune against it, the naive per-epoch baseline, cached
// re-training and tensor counts over many cycles (the partial strategy: partial-suite.ts).
import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import type { Engine } from '../../src/engine/engine.js';
import { pixelSource, type ImageSource } from '../../src/engine/data/examples.js';
import { batchToInput, FULL_VIEW } from '../../src/engine/data/preprocess.js';
import { syntheticImage, SYNTHETIC_CLASSES } from '../../src/testing/synthetic.js';
import type { RawImage } from '../../src/types.js';
import { FLOOR_BATCHES, summarizeRounds, type Round, type Timed } from './rounds.js';
import { measure, quantile, round } from './stats.mjs';

export const EPOCHS = 20;

export interface SuiteOptions {
  quick: boolean;
  /** Dataset sizes for fineTune (the first is the one compared with the naive baseline). */
  sizes: number[];
  naiveSize: number;
  cycles: number;
  /** Samples memory (Node: RSS) while fineTune runs. */
  sampleMemory?: () => number;
  /** Milliseconds spent in garbage collection so far (Node: from perf_hooks' gc entries). */
  gcMs?: () => number;
  log: (msg: string) => void;
}

/** `n` generated images over four classes (distinct seeds: every image is new to the cache). */
export function images(n: number, seed = 1): { label: string; img: RawImage }[] {
  return Array.from({ length: n }, (_, i) => {
    const label = SYNTHETIC_CLASSES[i % SYNTHETIC_CLASSES.length]!;
    return { label, img: syntheticImage(label, seed * 100_000 + i) };
  });
}

export async function addAll(engine: Engine, set: { label: string; img: RawImage }[]): Promise<void> {
  const by = new Map<string, ImageSource[]>();
  for (const { label, img } of set) (by.get(label) ?? by.set(label, []).get(label)!).push(await pixelSource(img));
  for (const [label, srcs] of by) await engine.addExamples(label, srcs);
}

/** fineTune's embedding pass (report.embedMs) over n images, no augmentation; disposes the engine. */
export async function embedPassMs(engine: Engine, n: number): Promise<number> {
  try {
    await addAll(engine, images(n, 9));
    const r = await engine.fineTune({ epochs: 1, augment: 0, validationSplit: 0, refit: false, seed: 1 });
    return r.embedMs;
  } finally {
    await engine.dispose();
  }
}

/** Highs while fineTune runs: tensor bytes, and the process's memory where sampled. */
export interface Peak {
  tensorBytes: number;
  rss: number;
}

/**
 * A cold fineTune (cache cleared) of n new images, head strategy, no augmentation;
 * `betweenBatches` runs after each of its embedding batches.
 */
async function coldFineTune(engine: Engine, n: number, seed: number, peak: Peak, sampleMemory?: () => number, betweenBatches?: () => void): Promise<Timed> {
  engine.clearExamples();
  await engine.clearCache();
  await addAll(engine, images(n, seed));
  let embedded = 0;
  const t0 = performance.now();
  const report = await engine.fineTune({
    epochs: EPOCHS,
    augment: 0,
    patience: EPOCHS,
    onProgress: (p) => {
      peak.tensorBytes = Math.max(peak.tensorBytes, tf.memory().numBytes);
      if (sampleMemory) peak.rss = Math.max(peak.rss, sampleMemory());
      if (p.phase === 'embed' && p.done > embedded) betweenBatches?.();
      if (p.phase === 'embed') embedded = p.done;
    },
  });
  return { ms: performance.now() - t0, embedMs: report.embedMs, trainMs: report.trainMs };
}

/**
 * Backbone floor passes run between fineTune's embedding batches (rounds.ts): on WASM
 * every kernel runs synchronously, so a pass can run inside fineTune's progress
 * callback, and the floor and the fineTune it is compared with see the machine at the
 * same moments. Batch sizes alternate over FLOOR_BATCHES; the floor is the best
 * batch's mean per image. `spentMs` is what the passes took out of the fineTune's time.
 */
function interleavedFloor(engine: Engine) {
  const [h, w] = engine.backbone.manifest.inputSize;
  const xs = FLOOR_BATCHES.map((b) => tf.randomUniform([b, h, w, 3], 0, 1, 'float32', 3) as tf.Tensor4D);
  const perImage = FLOOR_BATCHES.map(() => [] as number[]);
  const run = (x: tf.Tensor4D) => {
    const y = tf.tidy(() => engine.backbone.embed(x));
    y.dataSync();
    y.dispose();
  };
  xs.forEach(run); // warm-up, untimed
  let next = 0;
  let spentMs = 0;
  return {
    pass(): void {
      const i = next++ % xs.length;
      const t0 = performance.now();
      run(xs[i]!);
      const ms = performance.now() - t0;
      spentMs += ms;
      perImage[i]!.push(ms / FLOOR_BATCHES[i]!);
    },
    get spentMs() {
      return spentMs;
    },
    sample() {
      const by = (f: (xs: number[]) => number): Record<string, number> => Object.fromEntries(FLOOR_BATCHES.map((b, i) => [b, f(perImage[i]!)] as const).filter(([, v]) => Number.isFinite(v)));
      const mean = by((a) => a.reduce((p, q) => p + q, 0) / a.length);
      const median = by((a) => quantile(a, 0.5));
      return { bestMeanMs: Math.min(...Object.values(mean)), bestMs: Math.min(...Object.values(median)), passes: perImage.map((a) => a.length), meanByBatch: mean };
    },
    dispose: () => tf.dispose(xs),
  };
}

/**
 * `count` cold fineTunes of n new images (head strategy, no augmentation), each with
 * its floor measured between its own embedding batches; `peak` collects memory highs.
 */
export async function fineTuneRounds(engine: Engine, n: number, count: number, o: { peak?: Peak; sampleMemory?: () => number; log?: (msg: string) => void } = {}): Promise<Round[]> {
  const rounds: Round[] = [];
  for (let r = 0; r < count; r++) {
    o.log?.(`fineTune n=${n}, round ${r + 1} of ${count}`);
    const fl = interleavedFloor(engine);
    try {
      const t = await coldFineTune(engine, n, n + r * 7919, o.peak ?? { tensorBytes: 0, rss: 0 }, o.sampleMemory, () => fl.pass());
      const s = fl.sample();
      const floors = { floorPasses: s.passes.reduce((a, b) => a + b, 0), floorMeanByBatchMs: Object.fromEntries(Object.entries(s.meanByBatch).map(([b, v]) => [b, round(v)])) };
      rounds.push({ floorMs: s.bestMeanMs, floorMedianMs: s.bestMs, floors, ms: t.ms - fl.spentMs, embedMs: t.embedMs - fl.spentMs, trainMs: t.trainMs });
    } finally {
      fl.dispose();
    }
  }
  return rounds;
}

/** One forward pass of the frozen backbone alone, read back. */
export async function forwardPass(engine: Engine, x: tf.Tensor4D): Promise<void> {
  const y = tf.tidy(() => engine.backbone.embed(x));
  await y.data();
  y.dispose();
}

/**
 * Forward time per image of the frozen backbone alone, per batch size (timed passes
 * per size: `repeats`, or a function of the size): the median pass (`perImageMsByBatch`,
 * `bestMs`) and the mean (`bestMeanMs`: throughput, what a pass over many images costs).
 */
export async function floor(engine: Engine, batches: number[], repeats: number | ((batch: number) => number)) {
  const [h, w] = engine.backbone.manifest.inputSize;
  const median: Record<string, number> = {};
  const mean: Record<string, number> = {};
  for (const b of batches) {
    const x = tf.randomUniform([b, h, w, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const m = await measure(() => forwardPass(engine, x), { warmup: 1, repeats: typeof repeats === 'number' ? repeats : repeats(b) });
    x.dispose();
    median[b] = m.median / b;
    mean[b] = m.mean / b;
  }
  const best = Math.min(...Object.values(median));
  const perImage = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v)]));
  return { perImageMsByBatch: perImage(median), batch1Ms: round(median[1] ?? best), bestMs: round(best), meanPerImageMsByBatch: perImage(mean), bestMeanMs: round(Math.min(...Object.values(mean))) };
}

/**
 * The naive baseline of the tfjs transfer-learning tutorials: a frozen backbone
 * in front of a dense head, trained on the raw images, so every epoch runs
 * every image through the backbone again (what model.fit on a combined model does).
 */
export async function naive(engine: Engine, set: { label: string; img: RawImage }[], epochs: number, batchSize = 32): Promise<number> {
  const labels = [...new Set(set.map((s) => s.label))];
  const head = sequential({ layers: [layers.dense({ units: labels.length, activation: 'softmax', inputShape: [engine.backbone.manifest.embeddingSize] })] });
  head.compile({ optimizer: tf.train.adam(3e-4), loss: 'categoricalCrossentropy' });
  const t0 = performance.now();
  for (let e = 0; e < epochs; e++) {
    for (let s = 0; s < set.length; s += batchSize) {
      const batch = set.slice(s, s + batchSize);
      const [x, y] = tf.tidy(() => [
        engine.backbone.embed(batchToInput(batch.map((b) => ({ img: b.img, boxes: [FULL_VIEW] })), engine.backbone.manifest)),
        tf.oneHot(tf.tensor1d(batch.map((b) => labels.indexOf(b.label)), 'int32'), labels.length),
      ]);
      await head.trainOnBatch(x!, y!);
      tf.dispose([x!, y!]);
    }
  }
  const ms = performance.now() - t0;
  head.dispose();
  return ms;
}

export async function runEngineSuite(engine: Engine, o: SuiteOptions) {
  const result: Record<string, unknown> = {};
  o.log('floor');
  const fl = await floor(engine, o.quick ? [1, 16] : [1, 4, 8, 16, 32], o.quick ? 3 : 5);
  result.floor = fl;

  // fineTune, head strategy, cold cache, no augmentation: every image passes once;
  // in rounds, each with the floor measured between its embedding batches (rounds.ts):
  // five for the first size, three for larger ones.
  const fineTune: Record<string, unknown> = {};
  let retrain: Record<string, number> | undefined;
  const peak: Peak = { tensorBytes: 0, rss: 0 };
  for (const n of o.sizes) {
    const count = o.quick ? 1 : n === o.sizes[0] ? 5 : 3;
    const rounds = await fineTuneRounds(engine, n, count, { peak, sampleMemory: o.sampleMemory, log: o.log });
    fineTune[n] = summarizeRounds(n, rounds);
    if (n !== o.sizes[0]) continue;
    // Re-training after 10 more images (the last round's are cached): only those pass through the backbone.
    o.log('retrain +10');
    await addAll(engine, images(10, 999));
    const t1 = performance.now();
    const again = await engine.fineTune({ epochs: EPOCHS, augment: 0, patience: EPOCHS });
    const rms = performance.now() - t1;
    const firstMs = rounds[rounds.length - 1]!.ms;
    retrain = { firstMs: round(firstMs, 0), retrainMs: round(rms, 0), speedup: round(firstMs / rms, 2), backbonePasses: again.embeddingsComputed };
  }
  result.fineTune = fineTune;
  result.retrain = retrain;
  // Cached embeddings cost embeddingSize float32 per view in memory (fp16 in the persistent store).
  const dim = engine.backbone.manifest.embeddingSize;
  result.memory = { peakTensorBytes: peak.tensorBytes, ...(o.sampleMemory ? { peakRssBytes: peak.rss } : {}), n: o.sizes[o.sizes.length - 1], embeddingBytesPerView: dim * 4, persistedBytesPerView: dim * 2 };

  o.log(`naive n=${o.naiveSize}`);
  const naiveMs = await naive(engine, images(o.naiveSize, o.naiveSize), EPOCHS);
  const ours = (fineTune[o.naiveSize] as { ms: number } | undefined)?.ms;
  result.naive = { n: o.naiveSize, epochs: EPOCHS, ms: round(naiveMs, 0), overEdgetune: ours ? round(naiveMs / ours, 2) : null };

  o.log(`tensor counts over ${o.cycles} fineTune+predict cycles`);
  engine.clearExamples();
  await addAll(engine, images(40, 3));
  const probe = images(1, 4)[0]!.img;
  await engine.fineTune({ epochs: 2, augment: 0 });
  await engine.predictBatch([probe]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < o.cycles; i++) {
    await engine.fineTune({ epochs: 2, augment: 0 });
    await engine.predictBatch([probe]);
  }
  result.tensors = { cycles: o.cycles, before, after: tf.memory().numTensors };
  return result;
}
