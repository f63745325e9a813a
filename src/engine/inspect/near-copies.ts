// Near duplicates, found by embeddings and confirmed by pixels. The embeddings
// say which images to compare (each one's nearest few); the aligned grey
// thumbnails of pixel-match.ts say whether one is a copy of the other. A copy
// must also stand out from each image's other look-alikes, which is what keeps
// sets of near-identical product shots (28-pixel garments) from being reported
// pair by pair. Thresholds measured in bench/inspect.ts (docs/inspect.md).
import { EdgetuneError } from '../../errors.js';
import type { RawImage } from '../../types.js';
import { nearestNeighbours, neighbourPairs } from './duplicates.js';
import { copyScore, thumbsOf, type Thumbs } from './pixel-match.js';

/** Embedding neighbours compared per image, and the cosine below which a pair is not compared at all. */
export const CANDIDATES = 5;
export const CANDIDATE_FLOOR = 0.5;
/** Copy score (NCC of the aligned thumbnails) at or above which a pair can be a copy. */
export const COPY_THRESHOLD = 0.9;
/** A copy's 1 - score is at most this share of 1 - either image's second-best score. */
export const STANDOUT_RATIO = 0.3;
/** Images decoded at once (decoders run off the JS thread in Node). */
const CONCURRENCY = 4;

/** Loads the thumbnails of `indices`; an image that cannot be decoded now is left out. */
async function thumbnails(indices: number[], load: (i: number) => Promise<RawImage>, signal?: AbortSignal): Promise<Map<number, Thumbs>> {
  const out = new Map<number, Thumbs>();
  let next = 0;
  const worker = async () => {
    while (next < indices.length) {
      if (signal?.aborted) throw new EdgetuneError('ABORTED', 'inspect was aborted');
      const i = indices[next++]!;
      try {
        out.set(i, thumbsOf(await load(i)));
      } catch {
        // Decoded once already for its embedding; a file changed since is simply not compared.
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return out;
}

/**
 * Near-duplicate pairs [a < b, copy score] among L2-normalized embedding rows
 * ([n, dim]), with `load(i)` giving image i's pixels. Exact copies (equal hash)
 * are left to the hash groups.
 */
export async function nearCopies(
  unit: Float32Array,
  dim: number,
  hashes: readonly string[],
  load: (i: number) => Promise<RawImage>,
  opts: { threshold?: number; signal?: AbortSignal } = {},
): Promise<[number, number, number][]> {
  const pairs = neighbourPairs(nearestNeighbours(unit, dim, CANDIDATES, hashes), CANDIDATE_FLOOR);
  const thumbs = await thumbnails([...new Set(pairs.flatMap(([a, b]) => [a, b]))].sort((x, y) => x - y), load, opts.signal);
  const scored: [number, number, number][] = [];
  for (const [a, b] of pairs) {
    const [ta, tb] = [thumbs.get(a), thumbs.get(b)];
    if (ta && tb) scored.push([a, b, copyScore(ta, tb)]);
  }
  // Each image's scores, best first: how alike its look-alikes are is its best score with any image other than
  // the partner in question and the partner's exact copies.
  const byImage = new Map<number, [number, number][]>();
  for (const [a, b, s] of scored) {
    byImage.set(a, [...(byImage.get(a) ?? []), [b, s]]);
    byImage.set(b, [...(byImage.get(b) ?? []), [a, s]]);
  }
  for (const list of byImage.values()) list.sort((x, y) => y[1] - x[1]);
  const lookAlike = (i: number, partner: number) => byImage.get(i)?.find(([o]) => o !== partner && hashes[o] !== hashes[partner])?.[1] ?? -1;
  const threshold = opts.threshold ?? COPY_THRESHOLD;
  return scored.filter(([a, b, s]) => s >= threshold && 1 - s <= STANDOUT_RATIO * (1 - Math.max(lookAlike(a, b), lookAlike(b, a))));
}
