// The benchmark's targets, checked: `npm run bench -- --check` exits non-zero and
// names every target a run missed. Measures a run did not take (a quick or
// Chromium-only run) are not judged.

/**
 * [name, read the value from a result, comparison, target, full]: `full` targets
 * are set for the full run's sizes (200 images and more); a quick run's 50 images
 * spend a larger share on fixed costs, so those are judged on full runs only.
 */
export const TARGETS = [
  ['Chromium WASM floor, all threads / one thread', (r) => r.wasmThreadsFloorRatio, '<=', 0.65],
  ['Chromium fineTune / floor', (r) => r.ratioToFloor, '<=', 1.15, true],
  ['Chromium naive baseline / fineTune', (r) => r.naiveOverEdgetune, '>=', 15, true],
  ['Chromium re-train speedup', (r) => r.retrainSpeedup, '>=', 10, true],
  ['Chromium predict / forward pass', (r) => r.predictOverForward, '<=', 1.1],
  ['Chromium main-thread long tasks during fineTune', (r) => r.longTasks, '<=', 0],
  ['Node embedding, ONNX Runtime / tfjs', (r) => r.nodeEmbedSpeedup, '>=', 1.7],
  ['partial strategy, CLI minutes', (r) => r.partialMinutes, '<', 15],
  ['main entry, min + gzip bytes', (r) => r.mainEntryGzipBytes, '<=', 15 * 1024],
  ...[200, 1000].map((n) => [`Node fineTune / floor, N=${n}`, (r) => r.node?.fineTune?.[n]?.ratioToFloor, '<=', 1.15, true]),
  ['Node tensors after fineTune+predict cycles - before', (r) => (r.node?.tensors ? r.node.tensors.after - r.node.tensors.before : undefined), '<=', 0],
];

const holds = { '<=': (v, t) => v <= t, '>=': (v, t) => v >= t, '<': (v, t) => v < t };

/** The targets `result` misses: [{ name, value, op, target }]; measures it lacks, and full-size targets of a quick run, are skipped. */
export function missedTargets(result) {
  const missed = [];
  for (const [name, read, op, target, full] of TARGETS) {
    if (full && result.mode === 'quick') continue;
    const value = read(result);
    if (value === undefined || value === null) continue;
    if (!Number.isFinite(value) || !holds[op](value, target)) missed.push({ name, value, op, target });
  }
  return missed;
}
