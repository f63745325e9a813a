// Head training over cached embeddings: AdamW, StepLR, label smoothing, class
// weights, seeded shuffles, best-validation checkpoint and early stopping.
import * as tf from '@tensorflow/tfjs-core';
import { EdgetuneError } from '../../errors.js';
import type { EpochLog, ResolvedTrainConfig } from '../../types.js';
import { Head } from '../model/head.js';
import type { Tail } from '../model/tail.js';
import type { FeatureRows, Standardization } from '../data/feature-rows.js';
import { AdamW } from './optimizer.js';
import { createRng, shuffle } from '../util/random.js';
import { throwIfAborted, yieldToEventLoop } from '../util/async.js';

export { throwIfAborted, yieldToEventLoop };

/** Embedding rows and labels, as the trainer sees them. */
export interface TrainData {
  /** Every cached view of every example: [rows, embeddingSize]. */
  x: FeatureRows;
  /** Class index per example. */
  labels: Int32Array;
  /** Rows of x for each example; views[i][0] is the un-augmented view. */
  views: number[][];
  trainIdx: number[];
  valIdx: number[];
  numClasses: number;
  /** Per-class loss weights (1 everywhere when balancing is off). */
  classWeights: Float32Array;
  /** Whether `classWeights` are balanced ones (a refit rebalances them over train + val). */
  balanced?: boolean;
}

export interface TrainResult {
  history: EpochLog[];
  /** Most bytes tfjs held during a step (forward activations and gradients included). */
  peakBytes: number;
  bestEpoch: number;
  stoppedEarly: boolean;
  bestValAccuracy?: number;
}

export interface TrainHooks {
  onEpoch?: (log: EpochLog) => void | Promise<void>;
  signal?: AbortSignal;
}

/** The tail strategies: features come from a trainable tail over the activations at its cut. */
export interface TailFeed {
  tail: Tail;
  /** Activations at the cut for rows of the view table (the caller disposes them). */
  batch(rows: number[]): Promise<tf.Tensor4D>;
  /** Learning rate of the tail relative to the head's. */
  lrRatio: number;
  /**
   * Most rows through the tail at once: a larger batch runs as several of these
   * with their gradients summed (accumulation), and validation in chunks of it.
   */
  microBatch?: number;
}

/** Largest number of bytes tfjs held during a training step of this run (tf.memory().numBytes). */
export interface StepMemory {
  peakBytes: number;
}

/** Balanced class weights n / (k * n_c), as scikit-learn's 'balanced'. */
export function balancedClassWeights(counts: number[]): Float32Array {
  const n = counts.reduce((a, b) => a + b, 0);
  return Float32Array.from(counts, (c) => (c > 0 ? n / (counts.length * c) : 0));
}

/** Validation: (weighted, label-smoothed) cross-entropy through tfjs' loss, plus the count of correct argmax predictions. */
function lossAndCorrect(logits: tf.Tensor2D, y: tf.Tensor1D, w: tf.Tensor1D, numClasses: number, smoothing: number) {
  const onehot = tf.oneHot(y, numClasses);
  const perSample = tf.losses.softmaxCrossEntropy(onehot, logits, undefined, smoothing, tf.Reduction.NONE);
  const loss = tf.div(tf.sum(tf.mul(perSample, w)), tf.sum(w)) as tf.Scalar;
  return { loss, correct: correctCount(logits, y) };
}

const correctCount = (logits: tf.Tensor2D, y: tf.Tensor1D) => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32')) as tf.Scalar;

/**
 * The training loss as one differentiable op with its closed-form gradient:
 * sum_i w_i * CE(softmax(z_i), t_i) for host-made targets t (label-smoothed one-hot)
 * and weights w (already divided by their sum), whose gradient is w_i * (softmax(z_i) - t_i).
 * Autodiff through tfjs' loss takes ~45 kernels per step for the same value; a head
 * step is mostly per-kernel overhead.
 */
export function smoothedLoss(labels: Int32Array, classWeights: Float32Array, numClasses: number, smoothing: number, weightTotal?: number) {
  const n = labels.length;
  const t = new Float32Array(n * numClasses).fill(smoothing / numClasses);
  labels.forEach((c, i) => (t[i * numClasses + c] = 1 - smoothing + smoothing / numClasses));
  // A micro-batch of an accumulated step divides by the whole batch's weight.
  let total = weightTotal ?? 0;
  if (weightTotal === undefined) for (const c of labels) total += classWeights[c]!;
  const target = tf.tensor2d(t, [n, numClasses]);
  const weights = tf.tensor2d(Float32Array.from(labels, (c) => classWeights[c]! / total), [n, 1]);
  return tf.customGrad(((z: tf.Tensor, save: tf.GradSaveFunc) => {
    const logp = tf.logSoftmax(z);
    save([logp]);
    return {
      value: tf.neg(tf.sum(tf.mul(tf.mul(logp, target), weights))),
      gradFunc: (dy: tf.Tensor, [lp]: tf.Tensor[]) => tf.mul(tf.mul(tf.sub(tf.exp(lp!), target), weights), dy),
    };
  }) as never) as unknown as (z: tf.Tensor2D) => tf.Scalar;
}

/** One training run's fixed parts: the optimizer over head (and tail) variables, labels, validation rows. */
class TrainingRun {
  private readonly rng: () => number;
  private readonly headVars: tf.Variable[];
  private readonly vars: tf.Variable[];
  private readonly opt: AdamW;
  private readonly valY: tf.Tensor1D;
  readonly valRowIds: number[];
  private readonly stepsPerEpoch: number;
  private dropoutSeed: number;
  readonly memory: StepMemory = { peakBytes: 0 };

  constructor(
    private readonly head: Head,
    private readonly data: TrainData,
    private readonly cfg: ResolvedTrainConfig,
    private readonly hooks: TrainHooks,
    private readonly feed: TailFeed | undefined,
    /** The head's standardization, applied on the host while gathering (head only: with a tail, features come from the graph). */
    private readonly std: Standardization | undefined,
  ) {
    this.rng = createRng(cfg.seed);
    this.headVars = head.variables;
    const tailVars = feed?.tail.variables ?? [];
    this.vars = [...this.headVars, ...tailVars];
    const decayed = new Set([...head.kernels.map((_, i) => i), ...[...(feed?.tail.kernelIdx ?? [])].map((i) => this.headVars.length + i)]);
    this.opt = new AdamW(this.vars, decayed, cfg.weightDecay, [...this.headVars.map(() => 1), ...tailVars.map(() => feed?.lrRatio ?? 1)]);
    this.valRowIds = data.valIdx.map((i) => data.views[i]![0]!);
    this.valY = tf.tensor1d(data.valIdx.map((i) => data.labels[i]!), 'int32');
    this.stepsPerEpoch = Math.ceil(data.trainIdx.length / cfg.batchSize);
    this.dropoutSeed = cfg.seed * 7919;
  }

  snapshot(): tf.Tensor[] {
    return [...this.head.snapshot(), ...(this.feed?.tail.snapshot() ?? [])];
  }

  restore(w: tf.Tensor[]): void {
    this.head.restore(w.slice(0, this.headVars.length));
    this.feed?.tail.restore(w.slice(this.headVars.length));
  }

  /**
   * Head: StepLR. With a tail (fine-tuning pretrained layers): one epoch of
   * linear warm-up, then cosine decay, so the first Adam steps do not wreck them.
   */
  private lrAt(epoch: number, step: number): number {
    const { cfg } = this;
    return this.feed
      ? cfg.learningRate * Math.min(1, (step + 1) / this.stepsPerEpoch) * 0.5 * (1 + Math.cos((Math.PI * step) / (cfg.epochs * this.stepsPerEpoch)))
      : cfg.learningRate * cfg.lrGamma ** Math.floor((epoch - 1) / cfg.lrStepEpochs);
  }

  /** Validation loss and accuracy; through the tail in chunks when there is one. */
  async validate(): Promise<{ loss: number; acc: number }> {
    const { feed, valRowIds } = this;
    const logits: tf.Tensor2D[] = [];
    try {
      // Through a tail in training-batch chunks: on WASM, 152 validation views of the
      // default tail took 3.2 s in chunks of 32 and 3.5 s in chunks of 64; memory stays at a step's.
      const chunk = feed ? Math.min(this.cfg.batchSize, feed.microBatch ?? Infinity) : valRowIds.length;
      for (let s = 0; s < valRowIds.length; s += chunk) {
        const rows = valRowIds.slice(s, s + chunk);
        const pre = feed ? await feed.batch(rows) : undefined;
        logits.push(tf.tidy(() => (pre ? this.head.logits(feed!.tail.apply(pre)) : this.head.logits(this.data.x.gather(rows, this.std), 0, undefined, true))));
        pre?.dispose();
      }
      const v = tf.tidy(() => {
        const r = lossAndCorrect(tf.concat(logits, 0), this.valY, tf.ones([valRowIds.length]) as tf.Tensor1D, this.data.numClasses, 0);
        return tf.stack([r.loss, r.correct]);
      });
      const [vl, vc] = await v.data();
      v.dispose();
      return { loss: vl!, acc: vc! / valRowIds.length };
    } finally {
      tf.dispose(logits);
    }
  }

  /** One optimizer step on rows [s, s + n) of this epoch's order; returns the batch's summed loss and correct count. */
  private async step(epoch: number, order: number[], rows: number[], s: number, n: number): Promise<{ lossN: tf.Scalar; correct: tf.Scalar }> {
    const { cfg, data, feed } = this;
    const labels = Int32Array.from(order.slice(s, s + n), (i) => data.labels[i]!);
    let weightTotal = 0;
    for (const c of labels) weightTotal += data.classWeights[c]!;
    const micro = feed?.microBatch && feed.microBatch < n ? feed.microBatch : n;
    let grads: tf.Tensor[] | null = null;
    let lossN: tf.Scalar = tf.scalar(0);
    let correct: tf.Scalar = tf.scalar(0);
    try {
      for (let m = 0; m < n; m += micro) {
        const k = Math.min(micro, n - m);
        const part = await this.gradients(rows.slice(s + m, s + m + k), labels.subarray(m, m + k), weightTotal);
        const sum: tf.Tensor[] = grads ? grads.map((g, i) => tf.add(g, part.grads[i]!)) : part.grads;
        if (grads) tf.dispose([...grads, ...part.grads]);
        grads = sum;
        const [l2, c2] = tf.tidy(() => [tf.add(lossN, tf.mul(part.loss, n)) as tf.Scalar, tf.add(correct, part.correct) as tf.Scalar]);
        tf.dispose([lossN, correct, part.loss, part.correct]);
        [lossN, correct] = [l2, c2];
      }
      const g = grads!;
      tf.tidy(() => this.opt.apply(g, this.lrAt(epoch, (epoch - 1) * this.stepsPerEpoch + s / cfg.batchSize)));
      return { lossN, correct };
    } catch (err) {
      tf.dispose([lossN, correct]);
      throw err;
    } finally {
      if (grads) tf.dispose(grads);
    }
  }

  /** Gradients of the (batch-normalized) loss over one micro-batch, with its loss and correct count. */
  private async gradients(rowIds: number[], labels: Int32Array, weightTotal: number): Promise<{ grads: tf.Tensor[]; loss: tf.Scalar; correct: tf.Scalar }> {
    const { cfg, data, feed, head } = this;
    const pre = feed ? await feed.batch(rowIds) : undefined;
    try {
      return tf.tidy(() => {
        const seed = this.dropoutSeed++;
        // Without a tail the features are constants, standardized on the host: made outside the tape.
        const fixed = pre ? undefined : data.x.gather(rowIds, this.std);
        const logits = () => (fixed ? head.logits(fixed, cfg.dropout, seed, true) : head.logits(feed!.tail.apply(pre!), cfg.dropout, seed));
        const yb = tf.tensor1d(labels, 'int32');
        const loss = smoothedLoss(labels, data.classWeights, data.numClasses, cfg.labelSmoothing, weightTotal);
        let correct: tf.Scalar = tf.scalar(0);
        const { value, grads } = tf.variableGrads(() => {
          const z = logits();
          correct = tf.keep(correctCount(z, yb));
          // The forward pass's tensors are all alive here, kept for the backward pass: the step's peak.
          this.memory.peakBytes = Math.max(this.memory.peakBytes, tf.memory().numBytes);
          return loss(z);
        }, this.vars);
        return { grads: this.vars.map((v) => grads[v.name]!), loss: value, correct };
      });
    } finally {
      pre?.dispose();
    }
  }

  /** One epoch over the training split (one view per image), then validation. */
  async epoch(epoch: number): Promise<EpochLog> {
    const { cfg, data } = this;
    const t0 = performance.now();
    const lr = this.lrAt(epoch, (epoch - 1) * this.stepsPerEpoch);
    const order = shuffle([...data.trainIdx], this.rng);
    // Each epoch sees one view per image: a random augmented one, or the plain one.
    const rows = order.map((i) => {
      const v = data.views[i]!;
      return cfg.augment > 0 ? v[Math.floor(this.rng() * v.length)]! : v[0]!;
    });
    let lossSum = tf.scalar(0);
    let correctSum = tf.scalar(0);
    let lossTotal: number;
    let correctTotal: number;
    try {
      for (let s = 0; s < rows.length; s += cfg.batchSize) {
        throwIfAborted(this.hooks.signal);
        const n = Math.min(cfg.batchSize, rows.length - s);
        const step = await this.step(epoch, order, rows, s, n);
        const [l2, c2] = [tf.add(lossSum, step.lossN) as tf.Scalar, tf.add(correctSum, step.correct) as tf.Scalar];
        tf.dispose([lossSum, correctSum, step.lossN, step.correct]);
        [lossSum, correctSum] = [l2, c2];
        // A tail step is long: let abort requests and progress messages through.
        if (this.feed) await yieldToEventLoop();
      }
      // One read per epoch: on WebGPU every read is a GPU round trip.
      [lossTotal, correctTotal] = [(await lossSum.data())[0]!, (await correctSum.data())[0]!];
    } finally {
      tf.dispose([lossSum, correctSum]);
    }
    const log: EpochLog = { epoch, epochs: cfg.epochs, loss: lossTotal / rows.length, accuracy: correctTotal / rows.length, learningRate: lr, ms: 0 };
    if (data.valIdx.length > 0) {
      const v = await this.validate();
      log.valLoss = v.loss;
      log.valAccuracy = v.acc;
    }
    log.ms = performance.now() - t0;
    return log;
  }

  dispose(): void {
    this.valY.dispose();
    this.opt.dispose();
  }
}

/**
 * Trains `head` in place and leaves it holding the best-validation weights
 * (the last epoch's when there is no validation set).
 *
 * @throws EdgetuneError ABORTED when `hooks.signal` fires (the caller discards the head).
 */
export async function trainHead(head: Head, data: TrainData, cfg: ResolvedTrainConfig, hooks: TrainHooks = {}, feed?: TailFeed): Promise<TrainResult> {
  const run = new TrainingRun(head, data, cfg, hooks, feed, feed ? undefined : await head.standardization());
  const history: EpochLog[] = [];
  let best: { epoch: number; acc: number; loss: number; weights: tf.Tensor[] } | null = null;
  let stoppedEarly = false;
  const hasVal = data.valIdx.length > 0;
  try {
    // Fine-tuning a trained head (partial strategy): its starting point is a
    // candidate too, so the result is never worse on validation than head-only.
    if (feed && run.valRowIds.length > 0) {
      const v = await run.validate();
      best = { epoch: 0, acc: v.acc, loss: v.loss, weights: run.snapshot() };
    }
    for (let epoch = 1; epoch <= cfg.epochs; epoch++) {
      const log = await run.epoch(epoch);
      history.push(log);
      // A diverged run (a learning rate far too high) has nothing worth keeping: stop, the caller keeps the previous model.
      if (!Number.isFinite(log.loss)) {
        throw new EdgetuneError('TRAINING_DIVERGED', `The training loss became ${log.loss} at epoch ${epoch}: lower the learning rate (now ${log.learningRate}); the previous model is kept`);
      }
      const score = { acc: log.valAccuracy ?? log.accuracy, loss: log.valLoss ?? log.loss };
      if (!best || score.acc > best.acc || (score.acc === best.acc && score.loss < best.loss)) {
        if (best) tf.dispose(best.weights);
        best = { epoch, ...score, weights: run.snapshot() };
      }
      await hooks.onEpoch?.(log);
      await yieldToEventLoop();
      if (hasVal && epoch - best.epoch >= cfg.patience && epoch < cfg.epochs) {
        stoppedEarly = true;
        break;
      }
    }
    throwIfAborted(hooks.signal);
    if (hasVal && best) run.restore(best.weights);
    else if (best) best.epoch = history.length;
    return { history, peakBytes: run.memory.peakBytes, bestEpoch: best?.epoch ?? 0, stoppedEarly, ...(hasVal && best ? { bestValAccuracy: best.acc } : {}) };
  } finally {
    if (best) tf.dispose(best.weights);
    run.dispose();
  }
}
