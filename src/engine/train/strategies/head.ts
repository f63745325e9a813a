// The head strategy: a new classifier on the frozen backbone's cached embeddings.
import { trainStages } from '../stages.js';
import { STRATEGY_INFO } from './info.js';
import type { StrategyDef } from './types.js';

export const headStrategy: StrategyDef = {
  ...STRATEGY_INFO.head,
  async start({ embedder }) {
    let emb: Awaited<ReturnType<typeof embedder.embedAll>> | null = null;
    return {
      tail: null,
      embed: async (sources, views, hooks) => (emb = await embedder.embedAll(sources, views, hooks)),
      train: (ctx, data, cfg) => trainStages(ctx, data, cfg, null),
      features: async (rows) => emb!.x.gather(rows),
      dispose: () => {},
    };
  },
};
