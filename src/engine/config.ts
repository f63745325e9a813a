// fineTune's options: defaults, and validation that names the first bad one.
import { EdgetuneError } from '../errors.js';
import type { BackboneTrainingOptions, FineTuneOptions, PartialSchedule, ResolvedTrainConfig } from '../types.js';
import { STRATEGY_IDS, STRATEGY_INFO } from './train/strategies/info.js';

/** Below this many training images in the smallest class, `augment: 'auto'` caches augmented views. */
export const AUTO_AUGMENT_BELOW = 50;
export const AUTO_AUGMENT_VIEWS = 2;

/** The partial strategy's schedules (FineTuneOptions.partialSchedule), the default first. */
export const PARTIAL_SCHEDULES: readonly PartialSchedule[] = ['direct', 'select', 'select-refit'];

const PARTIAL = STRATEGY_INFO.partial.defaults!;

export const TRAIN_DEFAULTS: Omit<ResolvedTrainConfig, 'augment'> & { augment: number | 'auto' } = {
  epochs: 80,
  batchSize: 32,
  learningRate: 3e-4,
  weightDecay: 1e-4,
  lrStepEpochs: 10,
  lrGamma: 0.5,
  labelSmoothing: 0.1,
  hiddenUnits: 0,
  dropout: 0,
  augment: 'auto',
  validationSplit: 0.15,
  patience: 12,
  seed: 42,
  strategy: 'head',
  classBalance: 'auto',
  refit: true,
  partialSchedule: PARTIAL.schedule,
  unfreezeBlocks: PARTIAL.unfreezeBlocks,
  backboneLearningRate: PARTIAL.learningRate,
  partialEpochs: PARTIAL.epochs,
  prefixCacheBytes: PARTIAL.cacheBytes,
  stepMemoryBytes: PARTIAL.stepMemoryBytes,
  warmStart: true,
};

/** The flat fields each group option resolves to. */
const GROUP_FIELDS: [keyof BackboneTrainingOptions, keyof ResolvedTrainConfig][] = [
  ['unfreezeBlocks', 'unfreezeBlocks'],
  ['learningRate', 'backboneLearningRate'],
  ['epochs', 'partialEpochs'],
  ['schedule', 'partialSchedule'],
  ['cacheBytes', 'prefixCacheBytes'],
  ['stepMemoryBytes', 'stepMemoryBytes'],
];

/**
 * The chosen strategy's group (opts.partial / opts.full) over its defaults; the
 * deprecated flat options still apply, the group wins where both are set.
 */
function resolveGroup(cfg: ResolvedTrainConfig, opts: FineTuneOptions): void {
  const info = STRATEGY_INFO[cfg.strategy];
  const group = (cfg.strategy === 'head' ? undefined : opts[cfg.strategy]) ?? {};
  if (typeof group !== 'object' || Array.isArray(group)) throw new EdgetuneError('INVALID_ARGUMENT', `${cfg.strategy} must be an object of options, got ${JSON.stringify(group)}`);
  const known = new Set(GROUP_FIELDS.map(([k]) => k as string));
  const unknown = Object.keys(group).find((k) => !known.has(k));
  if (unknown) throw new EdgetuneError('INVALID_ARGUMENT', `${cfg.strategy}.${unknown} is not an option (known: ${[...known].join(', ')})`);
  const defaults = info.defaults ?? PARTIAL;
  const c = cfg as unknown as Record<string, unknown>;
  for (const [from, to] of GROUP_FIELDS) {
    const flat = (opts as Record<string, unknown>)[to];
    const value = (group as Record<string, unknown>)[from] ?? (cfg.strategy === 'full' ? undefined : flat);
    // The backbone's default rate follows the head's (the table's value is at the default head rate).
    c[to] = value ?? (from === 'learningRate' ? (defaults.learningRate * cfg.learningRate) / TRAIN_DEFAULTS.learningRate : defaults[from]);
  }
  if (cfg.strategy === 'full') cfg.unfreezeBlocks = 'all';
}

/**
 * Resolves fineTune options against the defaults, naming the first invalid one.
 * `augment: 'auto'` stays unresolved (-1) until the class sizes are known.
 */
export function resolveTrainConfig(opts: FineTuneOptions = {}): ResolvedTrainConfig {
  const cfg = { ...TRAIN_DEFAULTS } as unknown as ResolvedTrainConfig;
  for (const key of Object.keys(TRAIN_DEFAULTS) as (keyof ResolvedTrainConfig)[]) {
    const v = (opts as Record<string, unknown>)[key];
    if (v !== undefined) (cfg as Record<string, unknown>)[key] = v;
  }
  if (!STRATEGY_IDS.includes(cfg.strategy)) {
    throw new EdgetuneError('INVALID_ARGUMENT', `strategy must be one of ${STRATEGY_IDS.map((s) => `'${s}'`).join(', ')}, got '${cfg.strategy}'`);
  }
  // Partial: the backbone learns at the head's initial rate. The PyTorch recipe's 10x lower
  // rate assumes a head at that rate; ours continues at its converged rate (lower
  // still), and learningRate / 10 never beat the head-only model on fashion-dev.
  // Full: a tenth of it, as the recipe does for the whole pretrained network.
  resolveGroup(cfg, opts);
  const int = (k: keyof ResolvedTrainConfig, min: number, max: number) => {
    const v = cfg[k] as number;
    if (!Number.isInteger(v) || v < min || v > max) throw new EdgetuneError('INVALID_ARGUMENT', `${k} must be an integer in ${min}..${max}, got ${v}`);
  };
  const num = (k: keyof ResolvedTrainConfig, min: number, max: number) => {
    const v = cfg[k] as number;
    if (typeof v !== 'number' || !(v >= min && v <= max)) throw new EdgetuneError('INVALID_ARGUMENT', `${k} must be a number in [${min}, ${max}], got ${v}`);
  };
  int('epochs', 1, 10_000);
  int('batchSize', 1, 4096);
  num('learningRate', 1e-7, 10);
  num('weightDecay', 0, 100);
  int('lrStepEpochs', 1, 10_000);
  num('lrGamma', 0.01, 1);
  num('labelSmoothing', 0, 0.5);
  int('hiddenUnits', 0, 8192);
  num('dropout', 0, 0.9);
  if ((cfg.augment as number | 'auto') === 'auto') cfg.augment = -1;
  else int('augment', 0, 16);
  num('validationSplit', 0, 0.5);
  int('patience', 1, 10_000);
  int('seed', 0, 2 ** 31 - 1);
  for (const k of ['refit', 'warmStart'] as const) {
    if (typeof cfg[k] !== 'boolean') throw new EdgetuneError('INVALID_ARGUMENT', `${k} must be a boolean, got ${cfg[k]}`);
  }
  if (cfg.unfreezeBlocks !== 'all') int('unfreezeBlocks', 0, 64);
  num('stepMemoryBytes', 2 ** 20, 2 ** 40);
  num('backboneLearningRate', 0, 10);
  int('partialEpochs', 1, 10_000);
  num('prefixCacheBytes', 0, 2 ** 40);
  if (!PARTIAL_SCHEDULES.includes(cfg.partialSchedule)) {
    throw new EdgetuneError('INVALID_ARGUMENT', `partialSchedule must be one of ${PARTIAL_SCHEDULES.join(', ')}, got '${cfg.partialSchedule}'`);
  }
  if (!['auto', 'weights', 'off'].includes(cfg.classBalance)) {
    throw new EdgetuneError('INVALID_ARGUMENT', `classBalance must be 'auto', 'weights' or 'off', got '${cfg.classBalance}'`);
  }
  return cfg;
}
