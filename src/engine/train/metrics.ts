// Classification metrics: accuracy, per-class precision/recall/F1, confusion matrix.
import type { EvaluationReport } from '../../types.js';

/**
 * Expected calibration error: |accuracy - confidence| averaged over `bins`
 * equal-width confidence bins, weighted by their share of samples.
 */
export function expectedCalibrationError(confidence: ArrayLike<number>, correct: ArrayLike<boolean>, bins = 15): number {
  const n = confidence.length;
  if (!n) return 0;
  const sumConf = new Float64Array(bins);
  const sumAcc = new Float64Array(bins);
  const count = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const b = Math.min(bins - 1, Math.floor(confidence[i]! * bins));
    sumConf[b] = sumConf[b]! + confidence[i]!;
    sumAcc[b] = sumAcc[b]! + (correct[i] ? 1 : 0);
    count[b] = count[b]! + 1;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (count[b]) ece += Math.abs(sumAcc[b]! - sumConf[b]!) / n;
  return ece;
}

/**
 * @param truth class index per sample
 * @param predicted predicted class index per sample
 * @example
 *   metrics(['a', 'b'], [0, 1, 1], [0, 1, 0]).accuracy // 0.666...
 */
export function metrics(labels: string[], truth: ArrayLike<number>, predicted: ArrayLike<number>): EvaluationReport {
  const k = labels.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  for (let i = 0; i < truth.length; i++) {
    confusion[truth[i]!]![predicted[i]!]!++;
    if (truth[i] === predicted[i]) correct++;
  }
  const perClass = labels.map((label, c) => {
    const tp = confusion[c]![c]!;
    const support = confusion[c]!.reduce((a, b) => a + b, 0);
    const predictedAs = confusion.reduce((a, row) => a + row[c]!, 0);
    const precision = predictedAs ? tp / predictedAs : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support };
  });
  return { accuracy: truth.length ? correct / truth.length : 0, n: truth.length, labels: [...labels], perClass, confusion };
}
