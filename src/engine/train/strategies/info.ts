// The strategies as users choose them: names, one-line summaries and option
// defaults. No tfjs here: the CLI's help and the demo's selector (on the page's
// thread) read this table; the implementations (index.ts) attach to it.
import type { BackboneTrainingOptions, Strategy } from '../../../types.js';

/** A strategy's entry: what the CLI's help, the demo's selector and the docs show. */
export interface StrategyInfo {
  id: Strategy;
  /** A few words, e.g. 'head only'. */
  title: string;
  /** One sentence: what trains, at what cost. */
  summary: string;
  /**
   * Defaults of its option group (FineTuneOptions[id]); null for the head strategy.
   * `learningRate` is the value at the default head rate and scales with `learningRate`.
   */
  defaults: Required<BackboneTrainingOptions> | null;
}

export const STRATEGY_INFO: Readonly<Record<Strategy, StrategyInfo>> = {
  head: {
    id: 'head',
    title: 'head only',
    summary: 'trains a new classifier on the frozen backbone; each epoch reads cached embeddings (seconds)',
    defaults: null,
  },
  partial: {
    id: 'partial',
    title: 'last blocks',
    summary: "also trains the backbone's last blocks with the head; the frozen part's activations are cached, so an epoch costs the blocks only",
    // From a sweep of depth, rate and epochs (bench/gpu-study), the depth settled by seeded engine runs on fashion-dev (docs/partial-strategy.md).
    // Its budget holds a whole default batch (32 views of the 6-block tail peaked at about 1.7 GB): the step is not split.
    defaults: { unfreezeBlocks: 6, learningRate: 3e-4, epochs: 12, schedule: 'direct', cacheBytes: 256 * 2 ** 20, stepMemoryBytes: 4 * 2 ** 30 },
  },
  full: {
    id: 'full',
    title: 'whole network',
    summary: 'also trains every backbone layer, the stem included, with the head; each epoch runs the whole network forward and backward (minutes)',
    // The PyTorch recipe's lower rate for pretrained layers: a tenth of the head's.
    defaults: { unfreezeBlocks: 0, learningRate: 3e-5, epochs: 6, schedule: 'direct', cacheBytes: 256 * 2 ** 20, stepMemoryBytes: 2 ** 30 },
  },
};

export const STRATEGY_IDS = Object.keys(STRATEGY_INFO) as Strategy[];
