// The partial strategy's epoch cost in the bench (Node profile): each later epoch
// against the bound measured beside it, and the epoch split by timers inside it.
import * as tf from '@tensorflow/tfjs-core';
import type { Engine } from '../../src/engine/engine.js';
import type { TrainingReport } from '../../src/types.js';
import { Tail } from '../../src/engine/model/tail.js';
import { AdamW } from '../../src/engine/train/optimizer.js';
import { Head } from '../../src/engine/model/head.js';
import { addAll, EPOCHS, images, type SuiteOptions } from './engine-suite.js';
import { measure, quantile, round } from './stats.mjs';

/**
 * The partial strategy's epoch cost at its defaults (MobileNetV2's last stage), against
 * the issue's bound: 3x a head-only epoch plus the tail's own forward/backward (a
 * forward + backward per training batch, a forward per validation batch).
 *
 * This VM's speed drifts by 5-10% over minutes, more than the margin being measured,
 * so the bound is measured next to each epoch: right after it ends (from the progress
 * callback, which the trainer awaits before the next epoch starts) the tail alone runs
 * a few steps, and each later epoch is compared with the bound measured beside it.
 */
export async function partialSuite(engine: Engine, o: Pick<SuiteOptions, 'quick' | 'log' | 'gcMs'> & { partialSize: number }) {
  o.log(`partial n=${o.partialSize}`);
  engine.clearExamples();
  await addAll(engine, images(o.partialSize, 7));
  const partialEpochs = o.quick ? 2 : 5;
  const common = { epochs: EPOCHS, augment: 0, patience: EPOCHS, refit: false, validationSplit: 0.15 } as const;
  const head = await engine.fineTune(common);
  const headEpochMs = mean(head.history.map((h) => h.ms));
  // A second tail, with the trained one's shapes, for the isolated measurements.
  const blocks = head.config.unfreezeBlocks;
  const batch = head.config.batchSize;
  const tail = await Tail.fromBackbone(engine.backbone, blocks);
  const { stepOnce, forwardOnce } = tailProbes(tail, batch);
  const repeats = o.quick ? 1 : 3;
  stepOnce();
  forwardOnce();
  const timers = splitEpochs();
  // Synchronous (WASM ops are): the next epoch waits for it.
  const beside: Beside[] = [];
  let gcAt = o.gcMs?.() ?? 0;
  const p = await engine.fineTune({
    ...common,
    strategy: 'partial',
    partialEpochs,
    onProgress: (e) => {
      if (e.phase !== 'train' || e.stage !== 'partial') return;
      // Garbage collection during the epoch (read before the measurements below add their own).
      const gc = o.gcMs ? o.gcMs() - gcAt : undefined;
      const inEpoch = timers.take();
      timers.pause(() => {
        const steps = Array.from({ length: repeats }, stepOnce);
        const fwds = Array.from({ length: repeats }, forwardOnce);
        beside.push({ stepMs: mean(steps), forwardMs: mean(fwds), inEpoch, ...(gc !== undefined ? { gcMs: gc } : {}) });
      });
      gcAt = o.gcMs?.() ?? 0;
    },
  }).finally(() => timers.restore());
  // Not in the bound, but in every training step: AdamW over the tail's parameters.
  const optimizerMs = await optimizerStepMs(tail, o.quick ? 2 : 8);
  // The head's share of each gradient pass (it is in the gradient timer inside the
  // epoch, but belongs to the head's side of the bound): its forward, loss and
  // backward on a batch of features, timed alone (small, so drift matters little).
  const headStep = await headStepMs(engine.backbone.manifest.embeddingSize, head.labels.length, head.config, o.quick ? 3 : 20);
  const params = tail.variables.reduce((a, v) => a + v.size, 0);
  tail.dispose();
  return summarize({ n: o.partialSize, blocks, params, batch, headEpochMs, headStep, optimizerMs, beside }, p);
}

interface Beside {
  stepMs: number;
  forwardMs: number;
  inEpoch: EpochSplit;
  gcMs?: number;
}

/** The partial run's later epochs against the bound measured beside each, and split by the timers inside them. */
function summarize(
  c: { n: number; blocks: number | 'all'; params: number; batch: number; headEpochMs: number; headStep: number; optimizerMs: number; beside: Beside[] },
  p: TrainingReport,
) {
  const ph = p.partial!.history;
  const [trainBatches, valBatches] = [Math.ceil(p.trainCount / c.batch), Math.ceil(p.validationCount / c.batch)];
  const boundOf = (b: { stepMs: number; forwardMs: number }) => 3 * c.headEpochMs + b.stepMs * trainBatches + b.forwardMs * valBatches;
  // Epoch 1 also warms up (first allocations of the step's buffers): the bound is for later epochs.
  const later = ph.slice(1).map((h, i) => ({ epochMs: h.ms, boundMs: boundOf(c.beside[i + 1]!), ...c.beside[i + 1]! }));
  const ratios = later.map((l) => l.epochMs / l.boundMs);
  // The same bound from inside the epoch (no drift between the two sides): what the
  // epoch spends beyond its tail's own forward/backward passes against 3 head epochs.
  const split = later.map((l) => {
    const s = l.inEpoch;
    const rest = l.epochMs - s.gradientsMs - s.optimizerMs - s.validationForwardMs;
    const headMs = c.headStep * trainBatches;
    return { tailForwardBackwardMs: s.gradientsMs + s.validationForwardMs - headMs, optimizerMs: s.optimizerMs, headMs, restMs: rest };
  });
  return {
    n: c.n,
    trainCount: p.trainCount,
    validationCount: p.validationCount,
    unfreezeBlocks: c.blocks,
    tailParams: c.params,
    prefixPassMs: round(p.embedMs, 0),
    headEpochMs: round(c.headEpochMs, 1),
    firstEpochMs: round(ph[0]!.ms, 0),
    laterEpochMs: round(mean(later.map((l) => l.epochMs)), 0),
    tailStepMs: round(mean(later.map((l) => l.stepMs)), 0),
    tailForwardMs: round(mean(later.map((l) => l.forwardMs)), 0),
    optimizerStepMs: round(c.optimizerMs, 1),
    optimizerEpochMs: round(c.optimizerMs * trainBatches, 0),
    boundMs: round(mean(later.map((l) => l.boundMs)), 0),
    /** Each later epoch over the bound measured c.beside it. */
    laterEpochOverBound: ratios.map((r) => round(r, 3)),
    laterEpochOverBoundMedian: round(quantile(ratios, 0.5), 3),
    /**
     * Each later epoch split by timers inside it (WASM runs ops synchronously, so a call's
     * wall time is its work): forward + backward passes (training steps, head and loss
     * included; validation forwards), the AdamW updates, and the rest (reading the cache,
     * shuffling, bookkeeping, GC).
     */
    inEpoch: split.map((x) => ({
      tailForwardBackwardMs: round(x.tailForwardBackwardMs, 0),
      optimizerMs: round(x.optimizerMs, 0),
      headForwardBackwardMs: round(x.headMs, 0),
      restMs: round(x.restMs, 0),
      beyondTailMs: round(x.optimizerMs + x.headMs + x.restMs, 0),
    })),
    headStepMs: round(c.headStep, 2),
    threeHeadEpochsMs: round(3 * c.headEpochMs, 0),
    epochs: later.map((l) => ({
      epochMs: round(l.epochMs, 0),
      boundMs: round(l.boundMs, 0),
      stepMs: round(l.stepMs, 0),
      forwardMs: round(l.forwardMs, 0),
      ...(l.gcMs !== undefined ? { gcMs: round(l.gcMs, 0) } : {}),
    })),
    prefixCache: p.partial!.prefix,
  };
}

/** One tail training step (forward, backward) and one tail forward on a fresh batch each, timed in ms. */
function tailProbes(tail: Tail, batch: number) {
  let seed = 5;
  // A fresh input per step, as in training (each batch is read from the cache anew).
  const input = () => tf.randomUniform([batch, ...tail.prefixShape], 0, 2, 'float32', seed++) as tf.Tensor4D;
  const timedOn = (f: (x: tf.Tensor4D) => void) => () => {
    const x = input();
    const t0 = performance.now();
    f(x);
    const ms = performance.now() - t0;
    x.dispose();
    return ms;
  };
  return {
    stepOnce: timedOn((x) => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tail.apply(x)) as tf.Scalar, tail.variables);
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
    }),
    forwardOnce: timedOn((x) => tf.tidy(() => tail.apply(x)).dispose()),
  };
}

/** Median ms of one AdamW update over the tail's parameters. */
async function optimizerStepMs(tail: Tail, repeats: number): Promise<number> {
  const opt = new AdamW(tail.variables, tail.kernelIdx, 1e-4);
  const zeroGrads = tail.variables.map((v) => tf.zerosLike(v));
  const update = await measure(async () => {
    opt.apply(zeroGrads, 1e-9);
    await tail.variables[0]!.data();
  }, { warmup: 1, repeats });
  opt.dispose();
  tf.dispose(zeroGrads);
  return update.median;
}

/** Median ms of one head gradient pass (forward, smoothed cross-entropy, backward) on a batch of 32 features. */
async function headStepMs(featureSize: number, numClasses: number, cfg: { hiddenUnits: number; labelSmoothing: number }, repeats: number) {
  const x = tf.randomNormal([32, featureSize], 0, 1, 'float32', 3) as tf.Tensor2D;
  const stats = { mean: tf.zeros([featureSize]) as tf.Tensor1D, invStd: tf.ones([featureSize]) as tf.Tensor1D };
  // The head owns the statistics (freed with it).
  const head = Head.create({ inputSize: featureSize, numClasses, hiddenUnits: cfg.hiddenUnits }, stats, 1);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % numClasses), 'int32'), numClasses);
  const r = await measure(async () => {
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, head.logits(x), undefined, cfg.labelSmoothing) as tf.Scalar,
      head.variables,
    );
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  }, { warmup: 2, repeats });
  head.dispose();
  tf.dispose([x, y]);
  return r.median;
}

interface EpochSplit {
  gradientsMs: number;
  optimizerMs: number;
  validationForwardMs: number;
}

/**
 * Times, inside each partial epoch, the gradient passes (tfjs' engine.gradients, which
 * variableGrads calls), the AdamW updates and the tail's forwards outside a gradient
 * pass (validation), by wrapping those three methods for the bench's run. Meaningful
 * where ops run synchronously (WASM, CPU); `take` returns the sums since the last call.
 */
function splitEpochs() {
  const engine = tf.engine() as unknown as { gradients: (...a: unknown[]) => unknown };
  const originals = { gradients: engine.gradients, opt: AdamW.prototype.apply, apply: Tail.prototype.apply };
  let acc: EpochSplit = { gradientsMs: 0, optimizerMs: 0, validationForwardMs: 0 };
  let [inGradients, paused] = [false, false];
  const timed = <T>(key: keyof EpochSplit, f: () => T): T => {
    if (paused) return f();
    const t0 = performance.now();
    try {
      return f();
    } finally {
      acc[key] += performance.now() - t0;
    }
  };
  engine.gradients = function (this: unknown, ...a: unknown[]) {
    inGradients = true;
    try {
      return timed('gradientsMs', () => originals.gradients.apply(this, a));
    } finally {
      inGradients = false;
    }
  };
  AdamW.prototype.apply = function (this: AdamW, ...a: Parameters<AdamW['apply']>) {
    return timed('optimizerMs', () => originals.opt.apply(this, a));
  };
  Tail.prototype.apply = function (this: Tail, x: tf.Tensor4D) {
    return inGradients ? originals.apply.call(this, x) : timed('validationForwardMs', () => originals.apply.call(this, x));
  };
  return {
    take(): EpochSplit {
      const r = acc;
      acc = { gradientsMs: 0, optimizerMs: 0, validationForwardMs: 0 };
      return r;
    },
    pause(f: () => void) {
      paused = true;
      try {
        f();
      } finally {
        paused = false;
      }
    },
    restore() {
      engine.gradients = originals.gradients;
      AdamW.prototype.apply = originals.opt;
      Tail.prototype.apply = originals.apply;
    },
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
