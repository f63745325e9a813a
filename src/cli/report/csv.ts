// history.csv and predictions.csv: what `edgetune train` writes beside the model,
// for a spreadsheet or pandas.read_csv.
import type { EpochLog, Prediction, TrainingReport } from '../../types.js';
import { csvCell } from '../guards.js';

/** RFC 4180 quoting, and no cell a spreadsheet would run as a formula (guards.ts). */
export const csvField = csvCell;
const row = (fields: (string | number | undefined)[]) => fields.map(csvField).join(',');

/** Every epoch of every stage, in the order they ran. */
export function stagesOf(report: TrainingReport): { stage: NonNullable<EpochLog['stage']>; log: EpochLog }[] {
  const tag = (stage: NonNullable<EpochLog['stage']>, logs: EpochLog[] | null | undefined) => (logs ?? []).map((log) => ({ stage, log }));
  return [
    ...tag('select', report.history),
    ...tag('partial', report.partial?.history),
    // The refit trains a fresh head first, then the kept tail with it.
    ...tag('refit', report.refitHistory),
    ...tag('partial-refit', report.partial?.refitHistory),
  ];
}

export function historyCsv(report: TrainingReport): string {
  const lines = [row(['stage', 'epoch', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'learning_rate', 'ms'])];
  for (const { stage, log } of stagesOf(report)) {
    lines.push(row([stage, log.epoch, log.loss, log.accuracy, log.valLoss, log.valAccuracy, log.learningRate, Math.round(log.ms)]));
  }
  return lines.join('\n') + '\n';
}

export interface TestPrediction {
  path: string;
  label: string;
  top: Prediction[];
}

/** One row per test image: path, true label, predicted label and probability, then the top-k. */
export function predictionsCsv(rows: TestPrediction[], k: number): string {
  const head = ['path', 'true_label', 'predicted_label', 'probability', ...Array.from({ length: k }, (_, i) => [`top${i + 1}_label`, `top${i + 1}_probability`]).flat()];
  const lines = [row(head)];
  for (const r of rows) {
    const top = r.top.slice(0, k);
    lines.push(row([r.path, r.label, top[0]?.label, top[0]?.probability, ...top.flatMap((p) => [p.label, p.probability])]));
  }
  return lines.join('\n') + '\n';
}
