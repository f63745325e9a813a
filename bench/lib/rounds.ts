// fineTune against the backbone floor, measured in rounds. This VM's speed drifts
// by 10-20% over minutes, more than the margin being measured, and the best of
// several batch sizes' medians is biased low; so each round measures the floor
// right before a cold fineTune, and the ratio reported is the median of the
// rounds' own ratios.
import { quantile, round } from './stats.mjs';

export interface Round {
  /** The backbone floor (ms per image, best batch) measured right before this round's fineTune. */
  floorMs: number;
  /** fineTune's wall time, its embedding pass and its training (ms). */
  ms: number;
  embedMs: number;
  trainMs: number;
}

/** Medians over rounds of n images each, with every round listed. */
export function summarizeRounds(n: number, rounds: Round[]) {
  const med = (f: (r: Round) => number) => quantile(rounds.map(f), 0.5);
  const ratio = (r: Round) => r.ms / (n * r.floorMs);
  return {
    n,
    ms: round(med((r) => r.ms), 0),
    embedMs: round(med((r) => r.embedMs), 0),
    trainMs: round(med((r) => r.trainMs), 0),
    ratioToFloor: round(med(ratio), 3),
    rounds: rounds.map((r) => ({ floorMs: round(r.floorMs), ms: round(r.ms, 0), embedMsPerImage: round(r.embedMs / n), ratio: round(ratio(r), 3) })),
  };
}
