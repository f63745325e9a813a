// The full strategy: the head first, then every backbone layer (the stem
// included) and the head together, the backbone at a tenth of the head's rate as
// in the PyTorch recipe, each step's batch split to fit its memory budget
// (docs/strategies.md).
import { STRATEGY_INFO } from './info.js';
import { tailStrategy } from './tail-strategy.js';

export const fullStrategy = tailStrategy(STRATEGY_INFO.full);
