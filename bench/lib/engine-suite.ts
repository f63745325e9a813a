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
import { bracketedRounds, FLOOR_BATCHES, FLOOR_IMAGES, summarizeRounds } from './rounds.js';
import { measure, round } from './stats.mjs';

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

/** A cold fineTune (cache cleared) of n new images, head strategy, no augmentation. */
async function coldFineTune(engine: Engine, n: number, seed: number, peak: { tensorBytes: number; rss: number }, sampleMemory?: () => number) {
  engine.clearExamples();
  await engine.clearCache();
  await addAll(engine, images(n, seed));
  const t0 = performance.now();
  const report = await engine.fineTune({
    epochs: EPOCHS,
    augment: 0,
    patience: EPOCHS,
    onProgress: () => {
      peak.tensorBytes = Math.max(peak.tensorBytes, tf.memory().numBytes);
      if (sampleMemory) peak.rss = Math.max(peak.rss, sampleMemory());
    },
  });
  return { ms: performance.now() - t0, embedMs: report.embedMs, trainMs: report.trainMs };
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
  // in rounds, each between two floors (see rounds.ts): five for the first size, three for larger ones.
  const fineTune: Record<string, unknown> = {};
  let retrain: Record<string, number> | undefined;
  const peak = { tensorBytes: 0, rss: 0 };
  const measureFloor = () => floor(engine, FLOOR_BATCHES, (b) => Math.ceil(FLOOR_IMAGES / b));
  for (const n of o.sizes) {
    const count = o.quick ? 1 : n === o.sizes[0] ? 5 : 3;
    const rounds = await bracketedRounds(count, measureFloor, (r) => {
      o.log(`fineTune n=${n}, round ${r + 1} of ${count}`);
      return coldFineTune(engine, n, n + r * 7919, peak, o.sampleMemory);
    });
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
