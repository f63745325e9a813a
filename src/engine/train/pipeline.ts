// fineTune as a pipeline of steps over the current examples:
//   resolve the config -> split and label -> start the strategy (strategies/)
//   -> embed every view (through the caches, with what the strategy captures)
//   -> train the strategy's stages -> calibrate open-set
// and return the new model with its report. Nothing here touches the model in
// use: the caller swaps it in, so a failed or aborted run leaves it as it was.
import { EdgetuneError } from '../../errors.js';
import type { FineTuneOptions, ResolvedTrainConfig, TrainingReport } from '../../types.js';
import { AUTO_AUGMENT_BELOW, AUTO_AUGMENT_VIEWS, resolveTrainConfig } from '../config.js';
import type { Embedded, Embedder } from '../data/embed.js';
import type { Example } from '../data/examples.js';
import { OpenSet } from '../model/open-set.js';
import { TrainedModel } from '../model/trained-model.js';
import { throwIfAborted } from '../util/async.js';
import type { TrainData } from './loop.js';
import { splitExamples } from './split.js';
import { classWeightsFor, warmStartable, type StagesResult } from './stages.js';
import { STRATEGIES, type ActivationStore, type StrategyRun } from './strategies/index.js';

export interface PipelineInput {
  examples: readonly Example[];
  embedder: Embedder;
  /** The tail strategies' activation caches (kept by the engine across runs). */
  activations: ActivationStore;
  /** The model in use now (warm start), or null. */
  previous: TrainedModel | null;
}

/** Labels in first-seen order, the class of each example, the split, and `augment: 'auto'` resolved. */
export interface RunPlan {
  cfg: ResolvedTrainConfig;
  labels: string[];
  y: Int32Array;
  trainIdx: number[];
  valIdx: number[];
}

/** @throws EdgetuneError NO_EXAMPLES, TOO_FEW_CLASSES, INVALID_ARGUMENT */
export function planRun(examples: readonly Example[], opts: FineTuneOptions): RunPlan {
  let cfg = resolveTrainConfig(opts);
  if (examples.length === 0) throw new EdgetuneError('NO_EXAMPLES', 'No examples: call addExamples(label, images) for at least two classes');
  const labels = [...new Set(examples.map((e) => e.label))];
  if (labels.length < 2) throw new EdgetuneError('TOO_FEW_CLASSES', `Need examples of at least two classes, have only '${labels[0]}'`);
  const { trainIdx, valIdx } = splitExamples(examples, labels, cfg);
  const classIndex = new Map(labels.map((l, i) => [l, i]));
  const y = Int32Array.from(examples, (e) => classIndex.get(e.label)!);
  if (cfg.augment < 0) {
    const smallest = Math.min(...labels.map((_, c) => trainIdx.filter((i) => y[i] === c).length));
    cfg = { ...cfg, augment: smallest < AUTO_AUGMENT_BELOW ? AUTO_AUGMENT_VIEWS : 0 };
  }
  return { cfg, labels, y, trainIdx, valIdx };
}

/**
 * Views to embed per example: the plain image, plus `augment` crops for the
 * examples that train. With refit, validation examples train too; and with a
 * tail they are augmented as well, so that a tail that is not kept leaves
 * exactly the head strategy's result.
 */
export const viewsFor = (plan: RunPlan): number[][] => {
  const isTrain = new Set(plan.trainIdx);
  return plan.y.length ? Array.from(plan.y, (_, i) => (isTrain.has(i) || plan.cfg.refit ? Array.from({ length: plan.cfg.augment + 1 }, (_, v) => v) : [0])) : [];
};

/** Runs one fine-tune; the returned model is the caller's to swap in (or dispose). */
export async function fineTunePipeline(input: PipelineInput, opts: FineTuneOptions): Promise<{ model: TrainedModel; report: TrainingReport }> {
  const plan = planRun(input.examples, opts);
  const { cfg } = plan;
  // The strategy builds (and checks) what it trains before any expensive work.
  const run = await STRATEGIES[cfg.strategy].start({ embedder: input.embedder, activations: input.activations }, cfg);
  let kept: StrategyRun['tail'] = null;
  try {
    const t0 = performance.now();
    const emb = await run.embed(
      input.examples.map((e) => e.source),
      viewsFor(plan),
      opts,
    );
    const embedMs = performance.now() - t0;
    const usable = (i: number) => !emb.invalid.has(i);
    const usablePlan = { ...plan, trainIdx: plan.trainIdx.filter(usable), valIdx: plan.valIdx.filter(usable) };
    const skipped = [...emb.invalid].map(([i, reason]) => ({ name: input.examples[i]!.source.name, reason }));
    const out = await trainAndCalibrate(input, usablePlan, emb, run, opts, { embedMs, skipped });
    kept = out.model.tail;
    return out;
  } finally {
    run.dispose(kept);
  }
}

async function trainAndCalibrate(
  input: PipelineInput,
  plan: RunPlan,
  emb: Embedded,
  run: StrategyRun,
  opts: FineTuneOptions,
  embedInfo: { embedMs: number; skipped: TrainingReport['skipped'] },
): Promise<{ model: TrainedModel; report: TrainingReport }> {
  const { cfg, labels, y, trainIdx, valIdx } = plan;
  const empty = labels.filter((_, c) => !trainIdx.some((i) => y[i] === c));
  if (empty.length) throw new EdgetuneError('TOO_FEW_CLASSES', `No usable training images for: ${empty.join(', ')}`);
  const counts = labels.map((_, c) => trainIdx.filter((i) => y[i] === c).length);
  const { balance, weights } = classWeightsFor(cfg, counts);
  const t1 = performance.now();
  const data: TrainData = { x: emb.x, labels: y, views: emb.views, trainIdx, valIdx, numClasses: labels.length, classWeights: weights, balanced: balance };
  const ctx = { labels, previous: input.previous, hooks: opts };
  const warmStarted = warmStartable(input.previous, labels, cfg);
  const stages = await run.train(ctx, data, cfg);
  let openSet: OpenSet;
  try {
    openSet = await OpenSet.fit(labels.length, y, trainIdx, valIdx, (rows) => run.features(rows, stages.tail), emb.views);
    throwIfAborted(opts.signal);
  } catch (err) {
    stages.head.dispose();
    if (stages.tail !== run.tail) stages.tail?.dispose();
    throw err;
  }
  const training = { ...trainingMeta(cfg, stages), counts: Object.fromEntries(labels.map((l, c) => [l, { train: counts[c]!, val: valIdx.filter((i) => y[i] === c).length }])) };
  const model = new TrainedModel(stages.head, stages.tail, labels, openSet, training);
  const report: TrainingReport = {
    labels,
    strategy: cfg.strategy,
    epochsRun: stages.select.history.length,
    bestEpoch: stages.select.bestEpoch,
    stoppedEarly: stages.select.stoppedEarly,
    history: stages.select.history,
    refitHistory: stages.refitHistory,
    partial: stages.partial,
    warmStarted,
    openSet: { thresholds: Object.fromEntries(labels.map((l, c) => [l, openSet.thresholds[c]!])), calibratedOn: openSet.calibratedOn },
    trainCount: trainIdx.length,
    validationCount: valIdx.length,
    ...(training.bestValAccuracy !== undefined ? { bestValAccuracy: training.bestValAccuracy } : {}),
    embeddingsComputed: emb.computed,
    cacheHits: emb.hits,
    embedMs: embedInfo.embedMs,
    trainMs: performance.now() - t1,
    skipped: embedInfo.skipped,
    classWeights: balance ? Object.fromEntries(labels.map((l, i) => [l, weights[i]!])) : null,
    config: cfg,
  };
  return { model, report };
}

/** What the model records about its training; the best validation accuracy of either stage. */
function trainingMeta(cfg: ResolvedTrainConfig, stages: StagesResult): NonNullable<TrainedModel['training']> {
  const { select, partial } = stages;
  const best = partial ? Math.max(...partial.history.map((h) => h.valAccuracy ?? -1), select.bestValAccuracy ?? -1) : select.bestValAccuracy;
  return {
    config: cfg,
    epochsRun: select.history.length,
    bestEpoch: select.bestEpoch,
    ...(best !== undefined && best >= 0 ? { bestValAccuracy: best } : {}),
  };
}
