// The training stages of a fine-tune, on embeddings already computed:
//   select  the head on the training split, its epoch count chosen on validation;
//   partial (strategies 'partial' and 'full') the backbone's tail and the head
//           together, checkpointed on validation, kept only if it beats the head alone;
//   refit   head (and kept tail) again on train + val for the selected epochs;
//           without partial selection, the tail's only training (partialEpochs).
import * as tf from '@tensorflow/tfjs-core';
import type { EpochLog, FineTuneOptions, PrefixCacheInfo, ResolvedTrainConfig, TrainingReport } from '../../types.js';
import { featureStats, Head } from '../model/head.js';
import type { Tail } from '../model/tail.js';
import type { TrainedModel } from '../model/trained-model.js';
import { balancedClassWeights, throwIfAborted, trainHead, type TailFeed, type TrainData, type TrainResult } from './loop.js';

/** What every stage reads: the labels, the model trained before (warm start) and the caller's hooks. */
export interface StageContext {
  labels: string[];
  previous: TrainedModel | null;
  hooks: Pick<FineTuneOptions, 'signal' | 'onProgress'>;
}

/** A tail strategy's part in the stages: the tail, its batches (for a stage's config), and what the report says of them. */
export interface TailTraining {
  tail: Tail;
  feed(stageCfg: ResolvedTrainConfig): TailFeed;
  prefix: PrefixCacheInfo;
  /** Images per forward/backward pass when a step's batch is split to fit its memory; null when it is not. */
  microBatch: number | null;
}

export interface StagesResult {
  head: Head;
  /** The tail trained with `head`, when the partial stage was kept. */
  tail: Tail | null;
  select: TrainResult;
  partial: TrainingReport['partial'];
  refitHistory: EpochLog[] | null;
}

/**
 * Whether the next head starts from the previous model's: it must exist, work on
 * frozen embeddings (no fine-tuned tail), have the same shape and share a class.
 */
export function warmStartable(previous: TrainedModel | null, labels: string[], cfg: ResolvedTrainConfig): previous is TrainedModel {
  return (
    cfg.warmStart &&
    previous !== null &&
    previous.tail === null &&
    previous.head.spec.hiddenUnits === cfg.hiddenUnits &&
    labels.some((l) => previous.labels.includes(l))
  );
}

/** The tail is kept only if it beat the head-only start on validation (with no validation, always). */
export const keepsTail = (bestEpoch: number, validationCount: number): boolean => bestEpoch > 0 || validationCount === 0;

/**
 * The head continues at the rate it converged at (its StepLR value at the
 * selected epoch): restarting it at the initial rate knocks it off its optimum.
 */
export const convergedRate = (cfg: ResolvedTrainConfig, bestEpoch: number): number =>
  cfg.learningRate * cfg.lrGamma ** Math.floor((Math.max(1, bestEpoch) - 1) / cfg.lrStepEpochs);

/** One head training run; the returned head is the caller's to keep or dispose. */
export async function headStage(ctx: StageContext, data: TrainData, cfg: ResolvedTrainConfig, stage: EpochLog['stage']): Promise<{ head: Head; result: TrainResult }> {
  const { labels, previous } = ctx;
  const head = warmStartable(previous, labels, cfg)
    ? await Head.warmFrom(previous.head, [...previous.labels], labels, await classMeans(labels.filter((l) => !previous.labels.includes(l)), labels, data))
    : Head.create(
        { inputSize: data.x.dim, numClasses: labels.length, hiddenUnits: cfg.hiddenUnits },
        // The head takes ownership of the statistics tensors.
        tf.tidy(() => featureStats(data.x.gather(data.trainIdx.map((i) => data.views[i]![0]!)))),
        cfg.seed,
      );
  try {
    const result = await trainHead(head, data, cfg, {
      signal: ctx.hooks.signal,
      onEpoch: (log) => ctx.hooks.onProgress?.({ phase: 'train', ...log, stage }),
    });
    return { head, result };
  } catch (err) {
    head.dispose();
    throw err;
  }
}

/** Mean plain-view embedding of each of `wanted` classes over the training split (for imprinting new classes). */
async function classMeans(wanted: string[], labels: string[], data: TrainData): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const l of wanted) {
    const c = labels.indexOf(l);
    const rows = data.trainIdx.filter((i) => data.labels[i] === c).map((i) => data.views[i]![0]!);
    if (!rows.length) continue;
    const m = tf.tidy(() => tf.mean(data.x.gather(rows), 0));
    out.set(l, (await m.data()) as Float32Array);
    m.dispose();
  }
  return out;
}

/** Loss weights: balanced (n / (k * n_c)) when asked, or in 'auto' when classes differ by more than 2x. */
export function classWeightsFor(cfg: ResolvedTrainConfig, counts: number[]): { balance: boolean; weights: Float32Array } {
  const imbalanced = Math.max(...counts) > 2 * Math.min(...counts);
  const balance = cfg.classBalance === 'weights' || (cfg.classBalance === 'auto' && imbalanced);
  return { balance, weights: balance ? balancedClassWeights(counts) : new Float32Array(counts.length).fill(1) };
}

/**
 * The partial stage: the tail and a copy of the head together, from the
 * head-only result, checkpointed on validation (its start included). Returns
 * the tuned head when the tail is kept, else null (and disposes it).
 */
async function partialStage(ctx: StageContext, head: Head, tailing: TailTraining, data: TrainData, stageCfg: ResolvedTrainConfig, headOnly: TrainResult) {
  const tuned = head.clone();
  try {
    const res = await trainHead(
      tuned,
      data,
      stageCfg,
      { signal: ctx.hooks.signal, onEpoch: (log) => ctx.hooks.onProgress?.({ phase: 'train', ...log, stage: 'partial' }) },
      tailing.feed(stageCfg),
    );
    const report = partialReport(tailing, stageCfg, res.history, res.bestEpoch, headOnly, res.peakBytes);
    if (keepsTail(res.bestEpoch, data.valIdx.length)) return { tuned, report };
    tuned.dispose();
    return { tuned: null, report };
  } catch (err) {
    tuned.dispose();
    throw err;
  }
}

/**
 * Refit (scikit-learn's refit after model selection; few-shot sets gain most):
 * a fresh head on train + val for the selected number of epochs; with a kept
 * tail, then the tail from its starting weights (`start`; null: as it is) and
 * that head on train + val for `epochs`.
 */
async function refitStage(
  ctx: StageContext,
  data: TrainData,
  cfg: ResolvedTrainConfig,
  selectEpochs: number,
  kept: { tailing: TailTraining; start: tf.Tensor[] | null; epochs: number; stageCfg: ResolvedTrainConfig } | null,
  tailStage: 'partial' | 'partial-refit',
) {
  const all = [...data.trainIdx, ...data.valIdx].sort((a, b) => a - b);
  const allCounts = Array.from({ length: data.numClasses }, (_, c) => all.filter((i) => data.labels[i] === c).length);
  // Balanced weights stay balanced over train + val; unit weights stay unit.
  const weights = data.balanced ? balancedClassWeights(allCounts) : data.classWeights;
  const allData: TrainData = { ...data, trainIdx: all, valIdx: [], classWeights: weights };
  const refit = await headStage(ctx, allData, { ...cfg, epochs: selectEpochs }, 'refit');
  let tailHistory: EpochLog[] | null = null;
  let peakBytes = 0;
  try {
    if (kept) {
      if (kept.start) kept.tailing.tail.restore(kept.start);
      const res = await trainHead(
        refit.head,
        allData,
        { ...kept.stageCfg, epochs: kept.epochs },
        { signal: ctx.hooks.signal, onEpoch: (log) => ctx.hooks.onProgress?.({ phase: 'train', ...log, stage: tailStage }) },
        kept.tailing.feed(kept.stageCfg),
      );
      tailHistory = res.history;
      peakBytes = res.peakBytes;
    }
  } catch (err) {
    refit.head.dispose();
    throw err;
  }
  return { head: refit.head, history: refit.result.history, tailHistory, peakBytes };
}

/** The report's account of the backbone stage. */
function partialReport(tailing: TailTraining, cfg: ResolvedTrainConfig, history: EpochLog[], bestEpoch: number, headOnly: TrainResult, peakBytes: number): NonNullable<TrainingReport['partial']> {
  return {
    history,
    bestEpoch,
    ...(headOnly.bestValAccuracy !== undefined ? { headOnlyValAccuracy: headOnly.bestValAccuracy } : {}),
    prefix: tailing.prefix,
    memory: { microBatch: tailing.microBatch ?? cfg.batchSize, peakBytes, stepMemoryBytes: cfg.stepMemoryBytes },
    refitHistory: null,
  };
}

/** Runs select, then partial (with a tail), then refit (with validation data and `cfg.refit`). */
export async function trainStages(ctx: StageContext, data: TrainData, cfg: ResolvedTrainConfig, tailing: TailTraining | null): Promise<StagesResult> {
  const tail = tailing?.tail ?? null;
  const select = await headStage(ctx, data, cfg, 'select');
  let head = select.head;
  let partial: TrainingReport['partial'] = null;
  let keptTail: Tail | null = null;
  let refitHistory: EpochLog[] | null = null;
  const doRefit = cfg.refit && data.valIdx.length > 0;
  const stageCfg = { ...cfg, epochs: cfg.partialEpochs, learningRate: convergedRate(cfg, select.result.bestEpoch) };
  // 'direct': the tail's only training is on train + val, in the refit.
  const direct = tail !== null && doRefit && cfg.partialSchedule === 'direct';
  // The tail's starting weights, for the partial refit (train + val from the same start).
  const tailStart = tail && doRefit && cfg.partialSchedule === 'select-refit' ? tail.snapshot() : null;
  try {
    if (tail && !direct) {
      const p = await partialStage(ctx, head, tailing!, data, stageCfg, select.result);
      partial = p.report;
      if (p.tuned) {
        head.dispose();
        head = p.tuned;
        keptTail = tail;
      }
    }
    if (direct) {
      const refit = await refitStage(ctx, data, cfg, select.result.bestEpoch, { tailing: tailing!, start: null, epochs: cfg.partialEpochs, stageCfg }, 'partial');
      partial = partialReport(tailing!, stageCfg, refit.tailHistory!, cfg.partialEpochs, select.result, refit.peakBytes);
      keptTail = tail;
      head.dispose();
      head = refit.head;
      refitHistory = refit.history;
    } else if (doRefit && !(keptTail && !tailStart)) {
      // Without the partial refit, a kept tail's checkpoint is the model: a head refit on the plain features would not match it.
      const kept = keptTail && partial ? { tailing: tailing!, start: tailStart!, epochs: partial.bestEpoch, stageCfg } : null;
      const refit = await refitStage(ctx, data, cfg, select.result.bestEpoch, kept, 'partial-refit');
      if (partial && refit.tailHistory) partial.refitHistory = refit.tailHistory;
      head.dispose();
      head = refit.head;
      refitHistory = refit.history;
    }
    throwIfAborted(ctx.hooks.signal);
  } catch (err) {
    head.dispose();
    throw err;
  } finally {
    tf.dispose(tailStart ?? []);
  }
  return { head, tail: keptTail, select: select.result, partial, refitHistory };
}
