// What the partial and full strategies share: a trainable tail of the backbone,
// the activations at its cut cached while embedding, and a step whose batch is
// split (gradients summed) so that its memory stays under `stepMemoryBytes`.
import { EdgetuneError } from '../../../errors.js';
import type { Progress, ResolvedTrainConfig } from '../../../types.js';
import type { Embedded } from '../../data/embed.js';
import { Tail } from '../../model/tail.js';
import { trainStages } from '../stages.js';
import { tailFeatures, type ActivationPlan } from './tail-feed.js';
import type { StrategyDef, StrategyInfo } from './types.js';

/**
 * Bytes a training step holds per image, per byte of a plain forward pass (what
 * Tail's check measures): under the tape the forward pass of MobileNetV2-1.4 at
 * 224 px held 2.1-2.3x (293-330 MiB per image at 1-4 images, tf.memory() at its
 * end), and the backward pass's gradients come on top.
 */
export const STEP_BYTES_PER_FORWARD_BYTE = 2.5;

/** Images per forward/backward pass so that a step stays under the budget; undefined when the whole batch fits. */
export function microBatchFor(forwardBytesPerImage: number, cfg: Pick<ResolvedTrainConfig, 'batchSize' | 'stepMemoryBytes' | 'strategy'>): number | undefined {
  const perImage = forwardBytesPerImage * STEP_BYTES_PER_FORWARD_BYTE;
  const fit = Math.floor(cfg.stepMemoryBytes / Math.max(1, perImage));
  if (fit < 1) {
    const mb = (b: number) => `${Math.ceil(b / 2 ** 20)} MiB`;
    throw new EdgetuneError(
      'OUT_OF_MEMORY',
      `A ${cfg.strategy} training step needs about ${mb(perImage)} per image, more than stepMemoryBytes (${mb(cfg.stepMemoryBytes)}): raise ${cfg.strategy}.stepMemoryBytes, or use a strategy that trains less of the backbone`,
    );
  }
  return fit < cfg.batchSize ? fit : undefined;
}

/** A strategy that trains `info.defaults`' part of the backbone with the head. */
export function tailStrategy(info: StrategyInfo): StrategyDef {
  return {
    ...info,
    async start({ embedder, activations }, cfg) {
      const tail = await Tail.fromBackbone(embedder.backbone, cfg.unfreezeBlocks);
      let micro: number | undefined;
      try {
        micro = microBatchFor(tail.forwardBytesPerImage, cfg);
      } catch (err) {
        tail.dispose();
        throw err;
      }
      tail.useGemm(embedder.forward.gemm);
      let plan: ActivationPlan | null = null;
      let emb: Embedded | null = null;
      const feed = (t: Tail, c: ResolvedTrainConfig) => activations.feed(t, emb!, plan!.keys, embedder, c, micro);
      return {
        tail,
        async embed(sources, views, hooks) {
          plan = await activations.plan(embedder.keysOf(sources, views), tail, cfg.prefixCacheBytes);
          const info = plan.info;
          const onProgress = hooks.onProgress && ((p: Progress) => hooks.onProgress!(p.phase === 'embed' ? { ...p, prefix: info } : p));
          emb = await embedder.embedAll(sources, views, { ...hooks, ...(onProgress ? { onProgress } : {}) }, plan.tap);
          return emb;
        },
        train: (ctx, data, c) => trainStages(ctx, data, c, { tail, feed: (stageCfg) => feed(tail, stageCfg), prefix: plan!.info, microBatch: micro ?? null }),
        features: async (rows, kept) => (kept ? tailFeatures(feed(kept, cfg), rows, Math.min(64, micro ?? 64)) : emb!.x.gather(rows)),
        dispose: (kept) => {
          if (kept !== tail) tail.dispose();
        },
      };
    },
  };
}
