// edgetune export: a model directory rewritten (optionally with a merged tfjs
// model), or the standalone files for ONNX Runtime and LiteRT, float or int8
// calibrated on the training images of an ImageFolder.
import { resolve } from 'node:path';
import type { ExportFormat } from '../engine/model/export-formats.js';
import { checkOutputDir, replaceOutputDir } from '../node/output-dir.js';
import { loadModel, sourcesOf, type ModelArgs, type Output } from './commands.js';
import { readImageFolder } from './imagefolder.js';

export interface ExportArgs extends Pick<ModelArgs, 'model' | 'backbone'> {
  out: string;
  merged: boolean;
  format: ExportFormat;
  int8: boolean;
  /** An ImageFolder whose training images calibrate an int8 export. */
  calibration?: string;
  calibrationImages?: number;
}

export async function exportCmd(args: ExportArgs, out: Output): Promise<void> {
  await checkOutputDir(args.out, '--out', [args.model, ...(args.calibration ? [args.calibration] : [])]);
  const folder = args.calibration ? await readImageFolder(args.calibration) : null;
  const { engine, files } = await loadModel({ ...args, noCache: true }, out);
  try {
    if (folder) {
      for (const { label, sources } of await sourcesOf(folder.train, false, out)) if (sources.length) await engine.addExamples(label, sources);
    }
    const meta = JSON.parse(new TextDecoder().decode(files['edgetune.json']));
    const exported = await engine.export({
      format: args.format,
      merged: args.merged,
      int8: args.int8,
      ...(args.calibrationImages ? { calibrationImages: args.calibrationImages } : {}),
      ...(meta.metrics ? { metrics: meta.metrics } : {}),
    });
    await replaceOutputDir(resolve(args.out), exported, '--out');
    out.log(`exported ${Object.keys(exported).length} files to ${resolve(args.out)}`);
    out.result({ out: resolve(args.out), files: Object.fromEntries(Object.entries(exported).map(([n, b]) => [n, b.length])) });
  } finally {
    await engine.dispose();
  }
}
