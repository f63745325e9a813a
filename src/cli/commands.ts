// The edgetune commands over the engine: train, eval, predict, export.
import { existsSync } from 'node:fs';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { EdgetuneError } from '../errors.js';
import { createEngine, type Engine } from '../engine/engine.js';
import { FileEmbeddingStore } from '../node/embed-store-fs.js';
import { IMAGE_EXTENSIONS } from '../node/decode.js';
import type { ImageSource } from '../engine/data/examples.js';
import { fileSource, readModelDir } from '../node/files.js';
import { checkOutputDir, replaceOutputDir } from '../node/output-dir.js';
import { resolveTrainConfig } from '../engine/config.js';
import { checkCacheDir, checkCsvPath, checkSplitClasses, csvCell, stopOnSignals, terminalSafe } from './guards.js';
import { onnxRuntimeForward } from '../node/onnx-forward.js';
import { nodeWasmThreads } from '../node/wasm-threads.js';
import { reportFiles } from './report/files.js';
import { inspectForTrain } from './inspect-command.js';
import { BUNDLED_BACKBONES } from '../engine/model/manifest.js';
import type { EpochLog, EvaluationReport, FineTuneOptions, ModelEvaluation, ModelFiles, Progress, TrainingReport } from '../types.js';
import { readImageFolder, type ClassFiles } from './imagefolder.js';
import { PhaseProgress, type ProgressIO } from './progress.js';

export interface Output {
  json: boolean;
  /** --quiet: no progress, no informational lines. */
  quiet: boolean;
  /** Where progress goes (stderr), and whether it is a terminal. */
  io: ProgressIO;
  /** Informational lines on stderr; none with --quiet. */
  log(line: string): void;
  /** Warnings on stderr, each distinct message once. */
  warn(line: string): void;
  /** Result lines on stdout (predictions, the evaluation table), printed even with --quiet. */
  print(line: string): void;
  result(value: unknown): void;
}

const progressFor = (out: Output) => new PhaseProgress(out.json || out.quiet, out.io);

/** Who runs the frozen backbone: ONNX Runtime when installed ('auto'), or tfjs. */
export type Runtime = 'auto' | 'onnxruntime' | 'tfjs';

/** What every command accepts about the engine. */
export interface EngineArgs {
  backbone?: string;
  runtime?: Runtime;
  /** Threads for training and the backbone (WASM and ONNX Runtime). @default os.availableParallelism() */
  threads?: number;
}

export async function engineFor({ backbone, runtime = 'auto', threads }: EngineArgs, cacheDir: string | undefined, out: Output): Promise<Engine> {
  const onError = (err: Error) => out.warn(`the embedding cache in ${cacheDir} cannot be written (${err.message}); continuing without it`);
  const opts = {
    backends: ['wasm', 'cpu'] as const,
    wasmThreadsHost: nodeWasmThreads(),
    ...(threads !== undefined ? { wasmThreads: threads } : {}),
    ...(backbone ? { backbone } : {}),
    ...(cacheDir ? { embeddingStore: new FileEmbeddingStore(cacheDir, { onError }) } : {}),
  };
  if (runtime === 'tfjs') return createEngine({ ...opts, backends: [...opts.backends] });
  try {
    return await createEngine({ ...opts, backends: [...opts.backends], forward: onnxRuntimeForward(threads !== undefined ? { threads } : {}) });
  } catch (err) {
    if (runtime === 'onnxruntime' || !(err instanceof EdgetuneError && err.code === 'MISSING_DEPENDENCY')) throw err;
    out.log('onnxruntime-node is not installed: the backbone runs on tfjs (npm install onnxruntime-node embeds several times faster)');
    return createEngine({ ...opts, backends: [...opts.backends] });
  }
}

/** File sources per class; unreadable files are warned about (and added to `skipped`), or thrown with --strict. */
export async function sourcesOf(classes: ClassFiles, strict: boolean, out: Output, skipped: { name: string; reason: string }[] = []) {
  const result: { label: string; sources: Awaited<ReturnType<typeof fileSource>>[] }[] = [];
  for (const [label, files] of classes) {
    const sources = [];
    for (const path of files) {
      try {
        sources.push(await fileSource(path));
      } catch (err) {
        if (strict || !(err instanceof EdgetuneError && err.code === 'INVALID_IMAGE')) throw err;
        out.warn(`skipping ${terminalSafe(err.message)}`);
        skipped.push({ name: path, reason: err.message });
      }
    }
    result.push({ label, sources });
  }
  return result;
}

function formatEval(r: EvaluationReport): string[] {
  const lines = [`accuracy ${(r.accuracy * 100).toFixed(1)}% on ${r.n} images`];
  for (const c of r.perClass) {
    lines.push(`  ${c.label.padEnd(16)} precision ${c.precision.toFixed(2)}  recall ${c.recall.toFixed(2)}  f1 ${c.f1.toFixed(2)}  n=${c.support}`);
  }
  return lines;
}

export interface TrainArgs extends FineTuneOptions, EngineArgs {
  data: string;
  out: string;
  cacheDir?: string;
  /** A model directory to continue from: its head is the warm start (classes kept, new ones added). */
  from?: string;
  /** Write no embedding cache. */
  noCache?: boolean;
  strict: boolean;
}

/** Progress-bar prefix per training stage. */
const STAGE_LABEL: Record<NonNullable<EpochLog['stage']>, string> = {
  select: '',
  refit: 'refit train+val',
  partial: 'partial',
  'partial-refit': 'partial refit train+val',
};

/** One line of training progress: the embedding pass, a skipped image, an epoch. */
function showProgress(p: Progress, progress: PhaseProgress, out: Output): void {
  if (p.phase === 'embed') {
    const pre = p.prefix ? `; prefix cache ${p.prefix.cached} views${p.prefix.recomputed ? `, ${p.prefix.recomputed} recomputed each epoch (over budget)` : ''}` : '';
    progress.update('embed', p.done, p.total, `${p.cacheHits} cached${pre}`);
  } else if (p.phase === 'skip') out.warn(`skipping ${terminalSafe(p.reason)}`);
  else {
    const val = p.valAccuracy !== undefined ? ` val_acc ${p.valAccuracy.toFixed(3)}` : '';
    progress.update(`train ${STAGE_LABEL[p.stage ?? 'select']}`.trim(), p.epoch, p.epochs, `loss ${p.loss.toFixed(3)} acc ${p.accuracy.toFixed(3)}${val}`);
  }
}

/** What a training run did, in one or two lines on stderr. */
function logSummary(report: TrainingReport, out: Output): void {
  out.log(
    `trained ${report.labels.length} classes on ${report.trainCount} images (${report.validationCount} val): ` +
      `${report.epochsRun} epochs, best epoch ${report.bestEpoch}` +
      (report.bestValAccuracy !== undefined ? `, val accuracy ${(report.bestValAccuracy * 100).toFixed(1)}%` : '') +
      `; ${report.embeddingsComputed} backbone passes, ${report.cacheHits} cached`,
  );
  const partial = report.partial;
  if (!partial) return;
  const best = partial.history.find((h) => h.epoch === partial.bestEpoch);
  const selected = report.config.partialSchedule !== 'direct' || !report.config.refit;
  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  out.log(
    `${report.strategy}: ${partial.history.length} epochs` +
      (!selected ? ' on train + val' : `, best epoch ${partial.bestEpoch}` + (best?.valAccuracy !== undefined ? ` (val accuracy ${(best.valAccuracy * 100).toFixed(1)}%)` : ' (the head-only start)')) +
      `; ${(partial.history.reduce((n, h) => n + h.ms, 0) / Math.max(1, partial.history.length) / 1000).toFixed(1)} s per epoch` +
      `; ${partial.memory.microBatch} images per pass, step peak ${mib(partial.memory.peakBytes)} (budget ${mib(partial.memory.stepMemoryBytes)})` +
      (partial.refitHistory ? `; refit on train + val for ${partial.refitHistory.length} epochs` : ''),
  );
}

/** A test split's evaluation as the model records it (and its card reports). */
function evaluationOf(test: EvaluationReport, data: string): ModelEvaluation {
  return { split: 'test', dataset: basename(resolve(data)), accuracy: test.accuracy, n: test.n, perClass: test.perClass, ...(test.ece !== undefined ? { ece: test.ece } : {}) };
}

/** edgetune train: ImageFolder -> model directory, with test accuracy when a test split exists. */
export async function train(args: TrainArgs, out: Output): Promise<void> {
  // Everything that can be checked before reading an image or loading the backbone.
  resolveTrainConfig(args);
  const outDir = resolve(args.out);
  await checkOutputDir(outDir, '--out', [args.data, ...(args.from ? [args.from] : [])]);
  if (args.cacheDir) await checkCacheDir(args.cacheDir);
  const folder = await readImageFolder(args.data);
  checkSplitClasses(folder);
  const existedBefore = existsSync(outDir);
  const cacheDir = args.noCache ? undefined : (args.cacheDir ?? join(outDir, 'cache'));
  for (const f of folder.ignored.slice(0, 5)) out.warn(`ignoring non-image file ${terminalSafe(f)}`);
  if (folder.ignored.length > 5) out.warn(`ignoring ${folder.ignored.length - 5} more non-image files`);

  const engine = await engineFor(args, cacheDir, out);
  const progress = progressFor(out);
  const abort = new AbortController();
  const stop = stopOnSignals(abort);
  try {
    out.log(`backend ${engine.backend.name} ${JSON.stringify(engine.backend.details)}; backbone ${engine.backbone.manifest.id} on ${engine.embedder.forward.name}`);
    if (args.from) {
      const meta = await engine.import(await readModelDir(resolve(args.from)));
      out.log(`continuing from ${args.from} (classes: ${meta.labels.join(', ')})`);
    }
    for (const { label, sources } of await sourcesOf(folder.train, args.strict, out)) if (sources.length) await engine.addExamples(label, sources);
    if (folder.val) {
      for (const { label, sources } of await sourcesOf(folder.val, args.strict, out)) if (sources.length) await engine.addExamples(label, sources, { split: 'val' });
    }
    const report = await engine.fineTune({
      ...args,
      skipInvalid: !args.strict,
      signal: abort.signal,
      onProgress: (p) => showProgress(p, progress, out),
    });
    progress.end();
    logSummary(report, out);
    let test: EvaluationReport | undefined;
    let testSamples: { label: string; image: ImageSource }[] = [];
    if (folder.test) {
      ({ report: test, samples: testSamples } = await evaluateSplit(engine, folder.test, args.strict, out));
      formatEval(test).forEach((l) => out.log(l));
    }
    const files = await engine.export({
      ...(test ? { metrics: { testAccuracy: test.accuracy, testN: test.n }, evaluation: evaluationOf(test, args.data) } : {}),
      ...(report.bestValAccuracy !== undefined && !test ? { metrics: { valAccuracy: report.bestValAccuracy } } : {}),
    });
    const inspection = await inspectForTrain(engine, [
      ...engine.exampleList.map((e) => ({ label: e.label, source: e.source, split: e.split ?? ('train' as const) })),
      ...testSamples.map((t) => ({ label: t.label, source: t.image, split: 'test' as const })),
    ], out);
    Object.assign(files, await reportFiles(engine, { data: resolve(args.data), model: outDir, report, ...(test ? { test: { report: test, samples: testSamples } } : {}), ...(inspection ? { inspect: inspection } : {}) }));
    if (abort.signal.aborted) throw new EdgetuneError('ABORTED', 'train was stopped before the model was written');
    await replaceOutputDir(outDir, files, '--out');
    out.log(`model written to ${outDir} (report.html, history.csv${test ? ', predictions.csv' : ''} beside it)`);
    const { history, config, ...summary } = report;
    out.result({ model: outDir, backend: engine.backend, runtime: engine.embedder.forward.name, report: { ...summary, config, history }, ...(test ? { test } : {}) });
  } catch (err) {
    // No partial output: remove what this run created (the embedding cache included).
    if (!existedBefore) await rm(outDir, { recursive: true, force: true });
    throw err;
  } finally {
    // A running bar holds a timer that would keep the process alive.
    progress.end();
    stop.release();
    await engine.dispose();
    // Cleaned up: now let the signal end the process, so its exit status says which one.
    stop.rethrow();
  }
}

async function evaluateSplit(engine: Engine, classes: ClassFiles, strict: boolean, out: Output): Promise<{ report: EvaluationReport; samples: { label: string; image: ImageSource }[] }> {
  const known = new Set(engine.labels);
  const samples = [];
  let files = 0;
  const unreadable: { name: string; reason: string }[] = [];
  for (const { label, sources } of await sourcesOf(classes, strict, out, unreadable)) {
    if (!known.has(label)) throw new EdgetuneError('INVALID_DATASET', `Evaluation class '${label}' is not in the model (${engine.labels.join(', ')})`);
    files += classes.get(label)?.length ?? 0;
    for (const s of sources) samples.push({ label, image: s });
  }
  if (!samples.length) throw new EdgetuneError('INVALID_IMAGE', `None of the ${files} images could be read (${unreadable[0]?.reason})`);
  const progress = progressFor(out);
  try {
    progress.update('evaluate', 0, samples.length);
    const report = await engine.evaluate(samples, { skipInvalid: !strict });
    for (const s of report.skipped ?? []) out.warn(`skipping ${s.reason}`);
    const skipped = [...unreadable, ...(report.skipped ?? [])];
    progress.update('evaluate', report.n, report.n + skipped.length, skipped.length ? `(${skipped.length} unreadable)` : '');
    const bad = new Set(skipped.map((s) => s.name));
    return { report: { ...report, ...(skipped.length ? { skipped } : {}) }, samples: samples.filter((s) => !bad.has(s.image.name)) };
  } finally {
    progress.end();
  }
}

export interface ModelArgs extends EngineArgs {
  model: string;
  /** Embedding cache for eval and predict; default: the one train wrote beside the model. */
  cacheDir?: string;
  noCache?: boolean;
}

export async function loadModel({ model: modelDir, backbone, cacheDir, noCache, runtime, threads }: ModelArgs, out: Output): Promise<{ engine: Engine; files: ModelFiles }> {
  const files = await readModelDir(modelDir);
  const metaBytes = files['edgetune.json'];
  if (!metaBytes) throw new EdgetuneError('MODEL_LOAD_FAILED', `${modelDir}: no edgetune.json (not an edgetune model directory)`);
  let id: string | undefined;
  try {
    id = JSON.parse(new TextDecoder().decode(metaBytes)).backbone?.id;
  } catch {
    throw new EdgetuneError('MODEL_LOAD_FAILED', `${modelDir}/edgetune.json is not valid JSON`);
  }
  const chosen = backbone ?? ((BUNDLED_BACKBONES as readonly string[]).includes(id ?? '') ? id : undefined);
  if (!chosen) {
    throw new EdgetuneError('UNKNOWN_BACKBONE', `${modelDir} was trained on backbone '${id}', which is not bundled: pass --backbone <manifest.json>`);
  }
  const cache = noCache ? undefined : (cacheDir ?? join(modelDir, 'cache'));
  const engine = await engineFor({ backbone: chosen, runtime, threads }, cache, out);
  try {
    await engine.import(files);
  } catch (err) {
    await engine.dispose();
    throw err;
  }
  out.log(`model ${modelDir}: ${engine.labels.length} classes, backbone ${chosen} on ${engine.embedder.forward.name}, backend ${engine.backend.name}`);
  return { engine, files };
}

/** edgetune eval: accuracy, per-class metrics and confusion on <data>/test or every <data>/<class>. */
export async function evaluate(args: ModelArgs & { data: string; strict: boolean }, out: Output): Promise<void> {
  const folder = await readImageFolder(args.data, 1);
  const classes = folder.test ?? (folder.layout === 'flat' ? folder.train : undefined);
  if (!classes) throw new EdgetuneError('INVALID_DATASET', `${args.data}: has no test split to evaluate`);
  const { engine } = await loadModel(args, out);
  try {
    const { report } = await evaluateSplit(engine, classes, args.strict, out);
    if (!out.json) formatEval(report).forEach((l) => out.print(l));
    const embeddings = { ...engine.embedder.inferenceCounts };
    out.log(`${embeddings.computed} backbone passes, ${embeddings.cached} cached`);
    out.result({ ...report, embeddings });
  } finally {
    await engine.dispose();
  }
}

/** Image files named or found under the given paths, each once (by resolved path), in order. */
export async function collectImages(paths: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const p of paths) {
    const s = await stat(p).catch(() => null);
    if (!s) throw new EdgetuneError('INVALID_ARGUMENT', `${p}: no such file or directory`);
    if (s.isDirectory()) {
      const entries = (await readdir(p, { recursive: true, withFileTypes: true }))
        .filter((e) => e.isFile() && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()))
        .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
        .sort();
      found.push(...entries);
    } else found.push(p);
  }
  const seen = new Set<string>();
  const unique = found.filter((f) => !seen.has(resolve(f)) && !!seen.add(resolve(f)));
  if (!unique.length) throw new EdgetuneError('INVALID_ARGUMENT', `No images found in ${paths.join(', ')}`);
  return unique;
}


type PredictRow = { path: string; label: string; probability: number; top: { label: string; probability: number }[] };

/** Predicts a chunk of files; unreadable ones are skipped with a warning (or thrown with --strict). */
async function predictChunk(engine: Engine, paths: string[], k: number, strict: boolean, out: Output): Promise<PredictRow[]> {
  const skip = (err: unknown) => {
    if (strict || !(err instanceof EdgetuneError && err.code === 'INVALID_IMAGE')) throw err;
    out.warn(`skipping ${terminalSafe(err.message)}`);
  };
  const sources: ImageSource[] = [];
  for (const p of paths) await fileSource(p).then((s) => sources.push(s), skip);
  let preds: Awaited<ReturnType<Engine['predictBatch']>>;
  let ok = sources;
  try {
    preds = sources.length ? await engine.predictBatch(sources, { topK: k }) : [];
  } catch (err) {
    skip(err);
    // An undecodable image in the chunk: one by one, to skip just that one.
    preds = [];
    ok = [];
    for (const s of sources) {
      await engine.predictBatch([s], { topK: k }).then(([p]) => (preds.push(p!), ok.push(s)), skip);
    }
  }
  return preds.map((top, j) => ({ path: ok[j]!.name, label: top[0]!.label, probability: top[0]!.probability, top }));
}

/** edgetune predict: top-k per image, optionally as a CSV. */
export async function predict(args: ModelArgs & { inputs: string[]; topK: number; csv?: string; strict: boolean }, out: Output): Promise<void> {
  if (args.csv) await checkCsvPath(args.csv);
  if (args.cacheDir) await checkCacheDir(args.cacheDir);
  const paths = await collectImages(args.inputs);
  const { engine } = await loadModel(args, out);
  const progress = progressFor(out);
  try {
    const k = Math.min(args.topK, engine.labels.length);
    const rows: PredictRow[] = [];
    for (let i = 0; i < paths.length; i += 32) {
      rows.push(...(await predictChunk(engine, paths.slice(i, i + 32), k, args.strict, out)));
      progress.update('predict', Math.min(i + 32, paths.length), paths.length);
    }
    progress.end();
    if (!rows.length) throw new EdgetuneError('INVALID_IMAGE', `None of the ${paths.length} images could be read`);
    if (args.csv) {
      const header = ['path', 'label', 'probability', ...Array.from({ length: k }, (_, j) => [`top${j + 1}_label`, `top${j + 1}_probability`]).flat()];
      const lines = rows.map((r) => [r.path, r.label, r.probability.toFixed(6), ...r.top.flatMap((t) => [t.label, t.probability.toFixed(6)])].map(csvCell).join(','));
      await writeFile(args.csv, [header.join(','), ...lines].join('\n') + '\n').catch((err) => {
        throw new EdgetuneError('SAVE_FAILED', `Cannot write ${args.csv}: ${(err as Error).message}`, { cause: err });
      });
      out.log(`wrote ${rows.length} predictions to ${args.csv}`);
    } else if (!out.json) {
      for (const r of rows) out.print(`${terminalSafe(r.path)}\t${terminalSafe(r.label)}\t${r.probability.toFixed(4)}`);
    }
    out.result({ predictions: rows });
  } finally {
    progress.end();
    await engine.dispose();
  }
}
