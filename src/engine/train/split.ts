// Which examples train and which validate.
import { EdgetuneError } from '../../errors.js';
import type { ResolvedTrainConfig } from '../../types.js';
import type { Example } from '../data/examples.js';
import { createRng, shuffle } from '../util/random.js';

/** Validation indices: examples pinned to 'val', else a seeded stratified split. */
export function splitExamples(examples: readonly Example[], labels: string[], cfg: Pick<ResolvedTrainConfig, 'seed' | 'validationSplit'>): { trainIdx: number[]; valIdx: number[] } {
  const pinned = examples.some((e) => e.split === 'val');
  const trainIdx: number[] = [];
  const valIdx: number[] = [];
  const rng = createRng(cfg.seed ^ 0x5eed);
  for (const label of labels) {
    const idx = examples.flatMap((e, i) => (e.label === label ? [i] : []));
    if (pinned) {
      for (const i of idx) (examples[i]!.split === 'val' ? valIdx : trainIdx).push(i);
      continue;
    }
    shuffle(idx, rng);
    // Every class keeps at least one training example; single-example classes get no validation one.
    const nVal = cfg.validationSplit > 0 && idx.length >= 2 ? Math.min(idx.length - 1, Math.max(1, Math.round(idx.length * cfg.validationSplit))) : 0;
    valIdx.push(...idx.slice(0, nVal));
    trainIdx.push(...idx.slice(nVal));
  }
  const missing = labels.filter((l) => !trainIdx.some((i) => examples[i]!.label === l));
  if (missing.length) {
    throw new EdgetuneError('TOO_FEW_CLASSES', `Classes with no training examples (all are marked 'val'): ${missing.join(', ')}`);
  }
  return { trainIdx: trainIdx.sort((a, b) => a - b), valIdx: valIdx.sort((a, b) => a - b) };
}
