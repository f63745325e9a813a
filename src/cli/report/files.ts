// The files a training run leaves beside the model: history.csv, and with a
// test split predictions.csv and report.html (with its misclassified thumbnails).
import type { Engine } from '../../engine/engine.js';
import type { ImageSource } from '../../engine/data/examples.js';
import { loadSharp } from '../../node/decode.js';
import type { InspectReport, EvaluationReport, ModelFiles, TrainingReport } from '../../types.js';
import { historyCsv, predictionsCsv, type TestPrediction } from './csv.js';
import { thumbnailPaths } from './data-section.js';
import { renderReport } from './html.js';

const TOP_K = 3;
/** The report shows this many misclassified images at most (the most confident mistakes first). */
const MAX_WRONG = 60;
const enc = new TextEncoder();

export interface ReportRun {
  data: string;
  model: string;
  report: TrainingReport;
  test?: { report: EvaluationReport; samples: { label: string; image: ImageSource }[] };
  inspect?: InspectReport;
}

async function testPredictions(engine: Engine, samples: { label: string; image: ImageSource }[]): Promise<TestPrediction[]> {
  const rows: TestPrediction[] = [];
  for (let i = 0; i < samples.length; i += 64) {
    const chunk = samples.slice(i, i + 64);
    const preds = await engine.predictBatch(
      chunk.map((s) => s.image),
      { topK: Math.min(TOP_K, engine.labels.length) },
    );
    chunk.forEach((s, j) => rows.push({ path: s.image.name, label: s.label, top: preds[j]! }));
  }
  return rows;
}

async function thumbnail(path: string): Promise<string> {
  const sharp = await loadSharp();
  const jpeg = await sharp(path, { failOn: 'none' }).rotate().resize(112, 112, { fit: 'cover' }).jpeg({ quality: 72 }).toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}

export async function reportFiles(engine: Engine, run: ReportRun): Promise<ModelFiles> {
  const files: ModelFiles = { 'history.csv': enc.encode(historyCsv(run.report)) };
  let wrong: (TestPrediction & { thumbnail: string })[] = [];
  if (run.test) {
    const rows = await testPredictions(engine, run.test.samples);
    files['predictions.csv'] = enc.encode(predictionsCsv(rows, Math.min(TOP_K, engine.labels.length)));
    const mistakes = rows.filter((r) => r.top[0]?.label !== r.label).sort((a, b) => b.top[0]!.probability - a.top[0]!.probability);
    wrong = await Promise.all(mistakes.slice(0, MAX_WRONG).map(async (r) => ({ ...r, thumbnail: await thumbnail(r.path).catch(() => '') })));
  }
  const html = renderReport({
    data: run.data,
    model: run.model,
    backend: engine.backend,
    runtime: engine.embedder.forward.name,
    backbone: engine.backbone.manifest.id,
    report: run.report,
    ...(run.test ? { test: run.test.report } : {}),
    wrong,
    ...(run.inspect ? { inspect: { report: run.inspect, thumbnails: new Map(await Promise.all(thumbnailPaths(run.inspect).map(async (p) => [p, await thumbnail(p).catch(() => '')] as [string, string]))) } } : {}),
  });
  files['report.html'] = enc.encode(html);
  return files;
}
