// The strategies, by id: the implementations behind the table of info.ts (which
// the CLI's help, the demo's selector and the docs read).
import type { Strategy } from '../../../types.js';
import { fullStrategy } from './full.js';
import { headStrategy } from './head.js';
import { partialStrategy } from './partial.js';
import type { StrategyDef } from './types.js';

export const STRATEGIES: Readonly<Record<Strategy, StrategyDef>> = { head: headStrategy, partial: partialStrategy, full: fullStrategy };

export { STRATEGY_IDS, STRATEGY_INFO } from './info.js';
export type { StrategyDef, StrategyInfo, StrategyRun } from './types.js';
export { ActivationStore } from './tail-feed.js';
