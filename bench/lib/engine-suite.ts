// Engine measurements shared by the Node and the browser (in-page) runs: the
// backbone floor, fineTune against it, the naive per-epoch baseline, cached
// re-training, the partial strategy, and tensor counts over many cycles.
import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import type { Engine } from '../../src/engine/classifier.js';
import { pixelSource, type ImageSource } from '../../src/engine/examples.js';
import { FULL_VIEW, viewsToInput } from '../../src/engine/preprocess.js';
import { syntheticImage, SYNTHETIC_CLASSES } from '../../src/testing/synthetic.js';
import type { RawImage } from '../../src/types.js';
import { Tail } from '../../src/engine/tail.js';
import { AdamW } from '../../src/engine/optimizer.js';
import { measure, round } from './stats.mjs';

export const EPOCHS = 20;

export interface SuiteOptions {
  quick: boolean;
  /** Dataset sizes for fineTune (the first is the one compared with the naive baseline). */
  sizes: number[];
  naiveSize: number;
  partialSize: number;
  cycles: number;
  /** Samples memory (Node: RSS) while fineTune runs. */
  sampleMemory?: () => number;
  log: (msg: string) => void;
}

/** `n` generated images over four classes (distinct seeds: every image is new to the cache). */
export function images(n: number, seed = 1): { label: string; img: RawImage }[] {
  return Array.from({ length: n }, (_, i) => {
    const label = SYNTHETIC_CLASSES[i % SYNTHETIC_CLASSES.length]!;
    return { label, img: syntheticImage(label, seed * 100_000 + i) };
  });
}

async function addAll(engine: Engine, set: { label: string; img: RawImage }[]): Promise<void> {
  const by = new Map<string, ImageSource[]>();
  for (const { label, img } of set) (by.get(label) ?? by.set(label, []).get(label)!).push(await pixelSource(img));
  for (const [label, srcs] of by) engine.addExamples(label, srcs);
}

/** Forward time per image of the frozen backbone alone, per batch size. */
export async function floor(engine: Engine, batches: number[], repeats: number) {
  const [h, w] = engine.backbone.manifest.inputSize;
  const out: Record<string, number> = {};
  for (const b of batches) {
    const x = tf.randomUniform([b, h, w, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const m = await measure(async () => {
      const y = tf.tidy(() => engine.backbone.embed(x));
      await y.data();
      y.dispose();
    }, { warmup: 1, repeats });
    x.dispose();
    out[b] = m.median / b;
  }
  const best = Math.min(...Object.values(out));
  return { perImageMsByBatch: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, round(v)])), batch1Ms: round(out[1] ?? best), bestMs: round(best) };
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
        engine.backbone.embed(tf.concat(batch.map((b) => viewsToInput(b.img, [FULL_VIEW], engine.backbone.manifest)))),
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

  // fineTune, head strategy, cold cache, no augmentation: every image passes once.
  const fineTune: Record<string, unknown> = {};
  let retrain: Record<string, number> | undefined;
  let peakTensorBytes = 0;
  let peakRss = 0;
  for (const n of o.sizes) {
    o.log(`fineTune n=${n}`);
    engine.clearExamples();
    await engine.clearCache();
    await addAll(engine, images(n, n));
    const t0 = performance.now();
    const report = await engine.fineTune({
      epochs: EPOCHS,
      augment: 0,
      patience: EPOCHS,
      onProgress: () => {
        peakTensorBytes = Math.max(peakTensorBytes, tf.memory().numBytes);
        if (o.sampleMemory) peakRss = Math.max(peakRss, o.sampleMemory());
      },
    });
    const ms = performance.now() - t0;
    fineTune[n] = {
      ms: round(ms, 0),
      embedMs: round(report.embedMs, 0),
      trainMs: round(report.trainMs, 0),
      backbonePasses: report.embeddingsComputed,
      ratioToFloor: round(ms / (n * fl.bestMs), 3),
    };
    if (n === o.sizes[0]) {
      // Re-training after 10 more images: only those pass through the backbone.
      o.log('retrain +10');
      await addAll(engine, images(10, 999));
      const t1 = performance.now();
      const again = await engine.fineTune({ epochs: EPOCHS, augment: 0, patience: EPOCHS });
      const rms = performance.now() - t1;
      retrain = { firstMs: round(ms, 0), retrainMs: round(rms, 0), speedup: round(ms / rms, 2), backbonePasses: again.embeddingsComputed };
    }
  }
  result.fineTune = fineTune;
  result.retrain = retrain;
  // Cached embeddings cost embeddingSize float32 per view in memory (fp16 in the persistent store).
  const dim = engine.backbone.manifest.embeddingSize;
  result.memory = { peakTensorBytes, ...(o.sampleMemory ? { peakRssBytes: peakRss } : {}), n: o.sizes[o.sizes.length - 1], embeddingBytesPerView: dim * 4, persistedBytesPerView: dim * 2 };

  o.log(`naive n=${o.naiveSize}`);
  const naiveMs = await naive(engine, images(o.naiveSize, o.naiveSize), EPOCHS);
  const ours = (fineTune[o.naiveSize] as { ms: number } | undefined)?.ms;
  result.naive = { n: o.naiveSize, epochs: EPOCHS, ms: round(naiveMs, 0), overEdgetune: ours ? round(naiveMs / ours, 2) : null };

  result.partial = await partialSuite(engine, o);

  o.log(`tensor counts over ${o.cycles} fineTune+predict cycles`);
  engine.clearExamples();
  await addAll(engine, images(40, 3));
  const probe = images(1, 4)[0]!.img;
  await engine.fineTune({ epochs: 2, augment: 0 });
  await engine.predict([probe]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < o.cycles; i++) {
    await engine.fineTune({ epochs: 2, augment: 0 });
    await engine.predict([probe]);
  }
  result.tensors = { cycles: o.cycles, before, after: tf.memory().numTensors };
  return result;
}

/**
 * The partial strategy's epoch cost at its defaults (MobileNetV2's last stage), against
 * the issue's bound: 3x a head-only epoch plus the tail's own forward/backward (a
 * forward + backward per training batch, a forward per validation batch).
 */
export async function partialSuite(engine: Engine, o: Pick<SuiteOptions, 'quick' | 'partialSize' | 'log'>) {
  o.log(`partial n=${o.partialSize}`);
  engine.clearExamples();
  await addAll(engine, images(o.partialSize, 7));
  const partialEpochs = o.quick ? 2 : 4;
  const common = { epochs: EPOCHS, augment: 0, patience: EPOCHS, refit: false, validationSplit: 0.15 } as const;
  const head = await engine.fineTune(common);
  const p = await engine.fineTune({ ...common, strategy: 'partial', partialEpochs });
  const ph = p.partial!.history;
  const headEpochMs = head.history.reduce((a, h) => a + h.ms, 0) / head.history.length;
  const laterEpochMs = ph.slice(1).reduce((a, h) => a + h.ms, 0) / Math.max(1, ph.length - 1);
  // The tail's forward + backward alone, per training batch, on the prefix shape it trains on.
  const blocks = p.config.unfreezeBlocks;
  const tail = await Tail.fromBackbone(engine.backbone, blocks);
  const batch = p.config.batchSize;
  // A fresh input per repeat, as in training (each batch is read from the cache anew);
  // 8 repeats: single-step times vary by 5-10% on this VM.
  const input = (seed: number) => tf.randomUniform([batch, ...tail.prefixShape], 0, 2, 'float32', seed) as tf.Tensor4D;
  let seed = 5;
  const repeats = o.quick ? 2 : 8;
  const step = await measure(async () => {
    const x = input(seed++);
    const { value, grads } = tf.variableGrads(() => tf.sum(tail.apply(x)) as tf.Scalar, tail.variables);
    await value.data();
    tf.dispose([x, value, ...Object.values(grads)]);
  }, { warmup: 1, repeats });
  // Each epoch also scores the validation views, which is the tail's forward alone.
  const fwd = await measure(async () => {
    const x = input(seed++);
    const y = tf.tidy(() => tail.apply(x));
    await y.data();
    tf.dispose([x, y]);
  }, { warmup: 1, repeats });
  // Not in the bound, but in every training step: AdamW over the tail's parameters.
  const opt = new AdamW(tail.variables, tail.kernelIdx, 1e-4);
  const zeroGrads = tail.variables.map((v) => tf.zerosLike(v));
  const update = await measure(async () => {
    opt.apply(zeroGrads, 1e-9);
    await tail.variables[0]!.data();
  }, { warmup: 1, repeats });
  opt.dispose();
  tf.dispose(zeroGrads);
  const params = tail.variables.reduce((a, v) => a + v.size, 0);
  tail.dispose();
  const tailEpochMs = step.median * Math.ceil(p.trainCount / batch) + fwd.median * Math.ceil(p.validationCount / batch);
  const boundMs = 3 * headEpochMs + tailEpochMs;
  return {
    n: o.partialSize,
    trainCount: p.trainCount,
    unfreezeBlocks: blocks,
    prefixPassMs: round(p.embedMs, 0),
    firstEpochMs: round(ph[0]!.ms, 0),
    laterEpochMs: round(laterEpochMs, 0),
    headEpochMs: round(headEpochMs, 1),
    validationCount: p.validationCount,
    tailStepMs: round(step.median, 0),
    tailForwardMs: round(fwd.median, 0),
    tailParams: params,
    optimizerStepMs: round(update.median, 1),
    optimizerEpochMs: round(update.median * Math.ceil(p.trainCount / batch), 0),
    tailEpochMs: round(tailEpochMs, 0),
    boundMs: round(boundMs, 0),
    laterEpochOverBound: round(laterEpochMs / boundMs, 3),
    prefixCache: p.partial!.prefix,
  };
}
