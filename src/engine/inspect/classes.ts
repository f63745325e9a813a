// What the out-of-fold model and the class centres say about the classes:
// images far from every class (a blank camera frame, a photo of something
// else), pairs of classes that are confused with each other, and which classes
// need more examples.
import type { ClassAdvice, ConfusablePair } from '../../types.js';

/** Unit-length mean of each class's unit rows. */
export function classCentres(unit: Float32Array, dim: number, labels: Int32Array, classes: number): Float32Array {
  const c = new Float32Array(classes * dim);
  labels.forEach((y, i) => {
    for (let j = 0; j < dim; j++) c[y * dim + j] = c[y * dim + j]! + unit[i * dim + j]!;
  });
  for (let k = 0; k < classes; k++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += c[k * dim + j]! ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) c[k * dim + j]! *= inv;
  }
  return c;
}

const cosine = (a: Float32Array, i: number, b: Float32Array, k: number, dim: number) => {
  let s = 0;
  for (let j = 0; j < dim; j++) s += a[i * dim + j]! * b[k * dim + j]!;
  return s;
};

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1]! : 0;
};

/** An outlier is farther from its nearest class centre than OUTLIER_RATIO times the median distance to one's own centre. */
export const OUTLIER_RATIO = 2;

export function outliers(unit: Float32Array, dim: number, labels: Int32Array, classes: number): { index: number; distance: number; ratio: number }[] {
  const centres = classCentres(unit, dim, labels, classes);
  const own: number[] = [];
  const nearest: number[] = [];
  labels.forEach((y, i) => {
    own.push(1 - cosine(unit, i, centres, y, dim));
    let best = -Infinity;
    for (let k = 0; k < classes; k++) best = Math.max(best, cosine(unit, i, centres, k, dim));
    nearest.push(1 - best);
  });
  const typical = Math.max(median(own), 1e-6);
  return nearest
    .map((distance, index) => ({ index, distance, ratio: distance / typical }))
    .filter((o) => o.ratio >= OUTLIER_RATIO)
    .sort((a, b) => b.ratio - a.ratio);
}

/** Out-of-fold confusion [given][predicted], rows as shares. */
export function confusion(p: Float32Array, labels: Int32Array, classes: number): number[][] {
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  const size = new Array<number>(classes).fill(0);
  labels.forEach((y, i) => {
    const row = p.subarray(i * classes, (i + 1) * classes);
    m[y]![row.indexOf(Math.max(...row))]!++;
    size[y]!++;
  });
  return m.map((row, y) => row.map((v) => (size[y] ? v / size[y]! : 0)));
}

/** Pairs whose mutual confusion is at least 5% (both directions added), most confused first. */
export function confusablePairs(conf: number[][], names: readonly string[]): ConfusablePair[] {
  const out: ConfusablePair[] = [];
  for (let a = 0; a < names.length; a++)
    for (let b = a + 1; b < names.length; b++) {
      const [ab, ba] = [conf[a]![b]!, conf[b]![a]!];
      if (ab + ba >= 0.05) out.push({ a: names[a]!, b: names[b]!, aAsB: ab, bAsA: ba });
    }
  return out.sort((x, y) => y.aAsB + y.bAsA - (x.aAsB + x.bAsA));
}

/**
 * How many more examples each class needs, from a power-law learning curve
 * (error ~ n^-1/2, the usual shape of few-shot transfer curves): a class whose
 * out-of-fold error is above the mean error gets the examples that bring it to
 * the mean, at most three times what it has.
 */
export function classAdvice(conf: number[][], labels: Int32Array, names: readonly string[]): ClassAdvice[] {
  const counts = names.map((_, c) => labels.reduce((n, y) => n + (y === c ? 1 : 0), 0));
  const recall = names.map((_, c) => conf[c]![c]!);
  const meanError = recall.reduce((a, r) => a + (1 - r), 0) / names.length;
  return names.map((label, c) => {
    const error = 1 - recall[c]!;
    const more = error > meanError && meanError > 0 ? Math.min(3 * counts[c]!, Math.ceil(counts[c]! * ((error / meanError) ** 2 - 1))) : 0;
    return { label, examples: counts[c]!, recall: recall[c]!, suggestedMore: more };
  });
}
