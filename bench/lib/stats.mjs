// The one timing helper of the benchmarks: warm-up runs, then repeated timed
// runs, summarized as median / mean / p95. Every measurement goes through `measure`.

/** @param {number[]} xs @param {number} q in [0, 1] */
export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}

/**
 * Times `fn` `repeats` times after `warmup` untimed runs.
 * @template T
 * @param {() => Promise<T> | T} fn
 * @param {{ warmup?: number, repeats?: number, now?: () => number }} [opts]
 * @returns {Promise<{ median: number, mean: number, p95: number, min: number, runs: number[], last: T }>}
 */
export async function measure(fn, { warmup = 1, repeats = 5, now = () => performance.now() } = {}) {
  let last;
  for (let i = 0; i < warmup; i++) last = await fn();
  const runs = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = now();
    last = await fn();
    runs.push(now() - t0);
  }
  const mean = runs.reduce((a, b) => a + b, 0) / runs.length;
  return { median: quantile(runs, 0.5), mean, p95: quantile(runs, 0.95), min: Math.min(...runs), runs, last };
}

export const round = (x, digits = 2) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
