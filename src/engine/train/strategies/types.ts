// What a training strategy is to the pipeline: what it trains (a tail of the
// backbone or nothing besides the head), what it captures while embedding, how
// its stages run, and what the head reads for a row once it is trained.
import type * as tf from '@tensorflow/tfjs-core';
import type { FineTuneOptions, ResolvedTrainConfig } from '../../../types.js';
import type { Embedded, Embedder } from '../../data/embed.js';
import type { ImageSource } from '../../data/examples.js';
import type { Tail } from '../../model/tail.js';
import type { TrainData } from '../loop.js';
import type { StageContext, StagesResult } from '../stages.js';
import type { StrategyInfo } from './info.js';
import type { ActivationStore } from './tail-feed.js';

export type { StrategyInfo };

/** What a run of a strategy needs from the engine. */
export interface StrategyInput {
  embedder: Embedder;
  activations: ActivationStore;
}

/** One fine-tune's use of a strategy, from `StrategyDef.start` to `dispose`. */
export interface StrategyRun {
  /** The trainable part of the backbone, or null (head only). */
  readonly tail: Tail | null;
  /** Embeds every view (capturing in the same pass what the strategy's training reads). */
  embed(sources: ImageSource[], views: number[][], hooks: Pick<FineTuneOptions, 'onProgress' | 'signal' | 'skipInvalid'>): Promise<Embedded>;
  /** The training stages on the embedded views. */
  train(ctx: StageContext, data: TrainData, cfg: ResolvedTrainConfig): Promise<StagesResult>;
  /** The head's input for rows of the view table, with `tail` (the trained one, or null when it was not kept). */
  features(rows: number[], tail: Tail | null): Promise<tf.Tensor2D>;
  /** Frees the tail unless the trained model kept it. */
  dispose(kept: Tail | null): void;
}

export interface StrategyDef extends StrategyInfo {
  /** Builds (and checks) what the strategy trains, before any expensive work. */
  start(input: StrategyInput, cfg: ResolvedTrainConfig): Promise<StrategyRun>;
}
