// The export formats behind engine.export(): the edgetune model directory, and
// the standalone files for the runtimes people deploy with. The standalone
// writers load on demand, so bundles that never export leave them out.
import { EdgetuneError } from '../../errors.js';
import type { ExportOptions, ModelEvaluation, ModelFiles } from '../../types.js';
import { exportModel } from './artifacts.js';
import type { Backbone } from './backbone.js';
import { modelCard } from './model-card.js';
import type { Network } from './network.js';
import { calibrateRanges } from './quantize/calibrate.js';
import { calibrationBatches, DEFAULT_CALIBRATION_IMAGES } from './quantize/calibration-data.js';
import type { Example } from '../data/examples.js';
import type { TrainedModel } from './trained-model.js';

export const EXPORT_FORMATS = ['edgetune', 'onnx', 'tflite'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const enc = new TextEncoder();
const labelsFile = (labels: readonly string[]) => enc.encode(`${JSON.stringify(labels)}\n`);

/** Throws INVALID_ARGUMENT naming the valid formats and options. */
export function checkExportOptions(opts: ExportOptions): ExportFormat {
  const format = opts.format ?? 'edgetune';
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new EdgetuneError('INVALID_ARGUMENT', `Unknown export format '${String(format)}': one of ${EXPORT_FORMATS.map((f) => `'${f}'`).join(', ')}`);
  }
  if (opts.merged && format !== 'edgetune') throw new EdgetuneError('INVALID_ARGUMENT', `merged applies to the 'edgetune' format only, not '${format}'`);
  if (opts.int8 && format === 'edgetune') throw new EdgetuneError('INVALID_ARGUMENT', "int8 applies to the 'onnx' and 'tflite' formats, not 'edgetune'");
  const n = opts.calibrationImages;
  if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > 10_000)) throw new EdgetuneError('INVALID_ARGUMENT', `calibrationImages must be an integer from 1 to 10000, got ${String(n)}`);
  return format;
}

/** The format's files and the model card (README.md) beside them. */
export async function exportFiles(backbone: Backbone, m: TrainedModel, opts: ExportOptions, examples: readonly Example[] = []): Promise<ModelFiles> {
  const evaluation = opts.evaluation ?? m.evaluation;
  const files = await formatFiles(backbone, m, opts, evaluation, examples);
  const card = modelCard({
    labels: m.labels,
    manifest: backbone.manifest,
    files: Object.keys(files),
    ...(m.training ? { training: m.training } : {}),
    ...(evaluation ? { evaluation } : {}),
    tail: m.tail ? { unfreezeBlocks: m.tail.blocks } : null,
    ...(opts.int8 ? { int8: true } : {}),
  });
  return { ...files, 'README.md': enc.encode(card) };
}

async function formatFiles(backbone: Backbone, m: TrainedModel, opts: ExportOptions, evaluation: ModelEvaluation | undefined, examples: readonly Example[]): Promise<ModelFiles> {
  const format = checkExportOptions(opts);
  if (format === 'edgetune') {
    return exportModel({
      backbone,
      head: m.head,
      tail: m.tail,
      openSet: m.openSet,
      labels: [...m.labels],
      ...(m.training ? { training: m.training } : {}),
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      ...(evaluation ? { evaluation } : {}),
      merged: opts.merged ?? false,
    });
  }
  const calibrate = opts.int8 ? (net: Network) => calibrateRanges(net, calibrationBatches(examples, backbone.manifest, opts.calibrationImages ?? DEFAULT_CALIBRATION_IMAGES)) : undefined;
  const input = { backbone, head: m.head, tail: m.tail, labels: [...m.labels], ...(calibrate ? { calibrate } : {}) };
  // labels.json beside the model: ONNX Runtime's and LiteRT.js's JavaScript APIs cannot read a model's metadata.
  if (format === 'onnx') {
    const { exportOnnx } = await import('./onnx/export.js');
    return { 'model.onnx': await exportOnnx(input), 'labels.json': labelsFile(m.labels) };
  }
  const { exportTflite } = await import('./tflite/export.js');
  return { 'model.tflite': await exportTflite(input), 'labels.json': labelsFile(m.labels) };
}
