// The partial strategy: the head first, then the backbone's last blocks and the
// head together (docs/partial-strategy.md).
import { STRATEGY_INFO } from './info.js';
import { tailStrategy } from './tail-strategy.js';

export const partialStrategy = tailStrategy(STRATEGY_INFO.partial);
