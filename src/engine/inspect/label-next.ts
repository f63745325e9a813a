// Which unlabelled images to label first: uncertainty with diversity. A head
// trained on every labelled image scores the pool by margin (top probability
// minus the second: small means unsure); the order is then built greedily,
// each pick maximizing (1 - margin) x its cosine distance to everything
// labelled or already picked (k-center greedy weighted by uncertainty), so ten
// near-identical unsure frames are not all asked about first.
import * as tf from '@tensorflow/tfjs-core';
import { fitAndPredict, standardizeRows } from './oof.js';

/** Beyond this many candidates, the least unsure are appended by margin alone (the greedy pass is quadratic). */
const GREEDY_MAX = 1000;

function margins(p: Float32Array, classes: number, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => {
    const row = Array.from(p.subarray(i * classes, (i + 1) * classes)).sort((a, b) => b - a);
    return row[0]! - (row[1] ?? 0);
  });
}

/** `labelled` and `pool`: L2-normalized rows. The pool's order (indices into the pool) and each one's margin; the greedy pass picks the first `picks`, the rest follow by margin. */
export function labelNext(labelled: Float32Array, labels: Int32Array, classes: number, pool: Float32Array, dim: number, picks = GREEDY_MAX): { index: number; margin: number }[] {
  const n = labels.length;
  const m = pool.length / dim;
  if (!m) return [];
  const all = new Float32Array((n + m) * dim);
  all.set(labelled);
  all.set(pool, n * dim);
  const x = tf.tensor2d(standardizeRows({ data: all, dim }), [n + m, dim]);
  let p: Float32Array;
  try {
    p = fitAndPredict(x, labels, classes, Array.from({ length: n }, (_, i) => i), Array.from({ length: m }, (_, i) => n + i));
  } finally {
    x.dispose();
  }
  const margin = margins(p, classes, m);
  const byMargin = Array.from({ length: m }, (_, i) => i).sort((a, b) => margin[a]! - margin[b]!);
  const candidates = byMargin.slice(0, GREEDY_MAX);
  // Distance of each candidate to the nearest labelled image.
  const near = Float32Array.from(candidates, (c) => {
    let best = -1;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += pool[c * dim + j]! * labelled[i * dim + j]!;
      best = Math.max(best, s);
    }
    return 1 - best;
  });
  const order: number[] = [];
  const taken = new Uint8Array(candidates.length);
  for (let step = 0; step < Math.min(picks, candidates.length); step++) {
    let pick = -1;
    let best = -Infinity;
    candidates.forEach((c, k) => {
      const score = (1 - margin[c]!) * near[k]!;
      if (!taken[k] && score > best) [best, pick] = [score, k];
    });
    taken[pick] = 1;
    const chosen = candidates[pick]!;
    order.push(chosen);
    candidates.forEach((c, k) => {
      if (taken[k]) return;
      let s = 0;
      for (let j = 0; j < dim; j++) s += pool[c * dim + j]! * pool[chosen * dim + j]!;
      near[k] = Math.min(near[k]!, 1 - s);
    });
  }
  const chosen = new Set(order);
  return [...order, ...byMargin.filter((i) => !chosen.has(i))].map((index) => ({ index, margin: margin[index]! }));
}
