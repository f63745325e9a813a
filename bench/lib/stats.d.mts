// Types of stats.mjs (plain JS so that run.mjs can use it without a loader).
export function quantile(xs: number[], q: number): number;
export function measure<T>(
  fn: () => Promise<T> | T,
  opts?: { warmup?: number; repeats?: number; now?: () => number },
): Promise<{ median: number; mean: number; p95: number; min: number; runs: number[]; last: T }>;
export function round(x: number, digits?: number): number;
