// fineTune against the backbone floor, measured in rounds. This VM's speed drifts
// by 10-20% over seconds to minutes, more than the margin being measured, so the
// floor a round is compared with is measured around it: in the browser, right before
// and right after the SDK's fineTune (neighbouring rounds share one; `bracketedRounds`);
// for the engine's own fineTune (Node, and the browser bench's worker), between its
// embedding batches (`fineTuneRounds` in engine-suite.ts), which leaves no drift
// between the two. Either way the floor is a mean per image over its passes, as
// fineTune's wall time is (a median would drop the slow passes that fineTune pays);
// the ratio reported is the median of the rounds' own ratios.
import { quantile, round } from './stats.mjs';

/** The floor's batch sizes: the embedding pass's (16) and the one below it. */
export const FLOOR_BATCHES = [8, 16];
/** Images per batch size in one floor measurement (16 forward passes at batch 8, 8 at batch 16). */
export const FLOOR_IMAGES = 128;

export interface Round {
  /** The backbone floor this round's fineTune is compared with (mean ms per image, best batch). */
  floorMs: number;
  /** The same floor from the medians of its passes (for comparison; not used in the ratio). */
  floorMedianMs: number;
  /** How the floor was measured: its parts, as they go into the JSON. */
  floors: Record<string, unknown>;
  /** fineTune's wall time, its embedding pass and its training (ms). */
  ms: number;
  embedMs: number;
  trainMs: number;
}

export type Timed = Pick<Round, 'ms' | 'embedMs' | 'trainMs'>;

/** One floor measurement, best batch: the mean and the median time per image. */
export interface FloorSample {
  bestMeanMs: number;
  bestMs: number;
}

/** `count` fineTunes, each between two floor measurements (count + 1 floors in all). */
export async function bracketedRounds(count: number, measureFloor: () => Promise<FloorSample>, fineTune: (round: number) => Promise<Timed>): Promise<Round[]> {
  let before = await measureFloor();
  const rounds: Round[] = [];
  for (let r = 0; r < count; r++) {
    const timed = await fineTune(r);
    const after = await measureFloor();
    const floors = { beforeMs: round(before.bestMeanMs), afterMs: round(after.bestMeanMs), beforeMedianMs: before.bestMs, afterMedianMs: after.bestMs };
    rounds.push({ floorMs: (before.bestMeanMs + after.bestMeanMs) / 2, floorMedianMs: (before.bestMs + after.bestMs) / 2, floors, ...timed });
    before = after;
  }
  return rounds;
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
    embedRatioToFloor: round(med((r) => r.embedMs / (n * r.floorMs)), 3),
    ratioToMedianFloor: round(med((r) => r.ms / (n * r.floorMedianMs)), 3),
    rounds: rounds.map((r) => ({ floorMs: round(r.floorMs), ...r.floors, ms: round(r.ms, 0), embedMsPerImage: round(r.embedMs / n), ratio: round(ratio(r), 3) })),
  };
}
