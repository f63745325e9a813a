#!/usr/bin/env node
// `node bench/int8.mjs [--datasets stamps-dev,fashion-dev] [--strategy head] [--seed 1] [--out FILE]`:
// what int8 costs, measured in the runtimes people deploy with. Per dataset:
// train with the built CLI, export model.onnx and model.tflite, float and int8
// (calibrated on the training split), then run them on the test split:
// ONNX in onnxruntime-node (decoded as docs/onnx.md's Node snippet decodes),
// TFLite in LiteRT.js in Chromium (WASM; resized by docs/tflite.md's function).
// Accuracy overall and per class, file size, and latency per image (batch 1,
// after a warm-up; one thread for ONNX Runtime, LiteRT.js's default).
// Writes bench/results/int8-latest.json (or --out) and prints a Markdown table.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { launch, ROOT } from '../e2e/harness.mjs';
import { bundleLiteRt, docsToModelInput, runInLiteRt } from '../e2e/litert-page.mjs';

const opt = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const root = resolve(process.env.EDGETUNE_DATA ?? join(ROOT, '..', 'shared', 'datasets'));
const datasets = opt('datasets', 'stamps-dev,fashion-dev').split(',');
const strategy = opt('strategy', 'head');
const seed = opt('seed', '1');
const cli = join(ROOT, 'dist/cli/main.js');
if (!existsSync(cli)) {
  process.stderr.write('[bench int8] build first: npm run build\n');
  process.exit(1);
}

function edgetune(args) {
  const r = spawnSync(process.execPath, [cli, ...args, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`edgetune ${args.join(' ')}: exit ${r.status}: ${r.stderr.slice(-800)}`);
  return JSON.parse(r.stdout);
}

/** Decoded as edgetune decodes (docs/onnx.md): EXIF orientation, longer side at most 448 px, transparency on white. */
async function decode(file) {
  const { data, info } = await sharp(file)
    .rotate()
    .resize({ width: 448, height: 448, fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { tensor: new ort.Tensor('uint8', new Uint8Array(data), [1, info.height, info.width, 3]), rgb: new Uint8Array(data), width: info.width, height: info.height };
}

function summary(modelPath, labels, test, outputs, ms) {
  const perClass = Object.fromEntries(labels.map((l) => [l, { n: 0, correct: 0 }]));
  test.forEach(({ label }, i) => {
    const p = outputs[i];
    perClass[label].n++;
    if (labels[p.indexOf(Math.max(...p))] === label) perClass[label].correct++;
  });
  const correct = Object.values(perClass).reduce((a, c) => a + c.correct, 0);
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    outputs,
    accuracy: correct / test.length,
    perClass: Object.fromEntries(Object.entries(perClass).map(([l, c]) => [l, c.correct / c.n])),
    bytes: statSync(modelPath).size,
    msPerImage: { median: Number(sorted[sorted.length >> 1].toFixed(2)), mean: Number((ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(2)) },
  };
}

/** LiteRT.js in Chromium on the test images, resized by docs/tflite.md's function, 50 images per page (a page holds them all in memory). */
async function scoreTflite(context, litert, modelPath, labels, test) {
  const toModelInput = docsToModelInput();
  const model = readFileSync(modelPath);
  const outputs = [];
  const ms = [];
  for (let i = 0; i < test.length; i += 50) {
    const inputs = test.slice(i, i + 50).map(({ image }) => toModelInput(image.rgb, image.width, image.height));
    // Each page compiles the model; its first run warms up and is dropped.
    const r = await runInLiteRt(context, litert, model, [inputs[0], ...inputs], [1, 224, 224, 3]);
    outputs.push(...r.out.slice(1));
    ms.push(...r.ms.slice(1));
  }
  return summary(modelPath, labels, test, outputs, ms);
}

async function score(modelPath, labels, test) {
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  await session.run({ image: test[0].image.tensor }); // warm-up
  const outputs = [];
  const ms = [];
  for (const { image } of test) {
    const t0 = performance.now();
    const { probabilities } = await session.run({ image: image.tensor });
    ms.push(performance.now() - t0);
    outputs.push(Array.from(probabilities.data));
  }
  await session.release();
  return summary(modelPath, labels, test, outputs, ms);
}

const argmax = (p) => p.indexOf(Math.max(...p));
const compare = (f, q) => ({
  accuracyDrop: Number((f.accuracy - q.accuracy).toFixed(4)),
  top1Changed: f.outputs.filter((p, i) => argmax(p) !== argmax(q.outputs[i])).length,
  meanAbsDiff: Number((f.outputs.flatMap((p, i) => p.map((v, j) => Math.abs(v - q.outputs[i][j]))).reduce((a, b) => a + b, 0) / f.outputs.flat().length).toExponential(2)),
  sizeRatio: Number((q.bytes / f.bytes).toFixed(3)),
  speedup: Number((f.msPerImage.median / q.msPerImage.median).toFixed(2)),
});

const results = [];
const context = await launch();
const litert = await bundleLiteRt();
for (const dataset of datasets) {
  const data = join(root, dataset);
  if (!existsSync(join(data, 'test'))) throw new Error(`${data}/test: no test split (set EDGETUNE_DATA)`);
  const dir = mkdtempSync(join(tmpdir(), 'edgetune-int8-'));
  try {
    const model = join(dir, 'model');
    const trained = edgetune(['train', data, '--out', model, '--strategy', strategy, '--seed', seed]);
    const t0 = performance.now();
    edgetune(['export', model, '--out', join(dir, 'float'), '--format', 'onnx']);
    const floatMs = performance.now() - t0;
    const t1 = performance.now();
    edgetune(['export', model, '--out', join(dir, 'int8'), '--format', 'onnx', '--int8', '--calibration', data]);
    const int8Ms = performance.now() - t1;
    edgetune(['export', model, '--out', join(dir, 'tflite'), '--format', 'tflite']);
    edgetune(['export', model, '--out', join(dir, 'tflite-int8'), '--format', 'tflite', '--int8', '--calibration', data]);
    const labels = JSON.parse(readFileSync(join(dir, 'float', 'labels.json'), 'utf8'));
    const test = [];
    for (const label of readdirSync(join(data, 'test')).sort()) {
      for (const f of readdirSync(join(data, 'test', label)).sort()) test.push({ label, image: await decode(join(data, 'test', label, f)) });
    }
    const float = await score(join(dir, 'float', 'model.onnx'), labels, test);
    const int8 = await score(join(dir, 'int8', 'model.onnx'), labels, test);
    const tflite = await scoreTflite(context, litert, join(dir, 'tflite', 'model.tflite'), labels, test);
    const tfliteInt8 = await scoreTflite(context, litert, join(dir, 'tflite-int8', 'model.tflite'), labels, test);
    const run = {
      dataset,
      strategy,
      seed: Number(seed),
      testImages: test.length,
      edgetuneTestAccuracy: trained.test?.accuracy,
      exportMs: { float: Math.round(floatMs), int8: Math.round(int8Ms) },
      onnx: { ...compare(float, int8), float, int8 },
      tflite: { ...compare(tflite, tfliteInt8), float: tflite, int8: tfliteInt8 },
    };
    for (const x of [float, int8, tflite, tfliteInt8]) delete x.outputs;
    process.stderr.write(`[bench int8] ${JSON.stringify(run)}\n`);
    results.push(run);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await context.close();
const out = opt('out', join(ROOT, 'bench/results/int8-latest.json'));
writeFileSync(out, `${JSON.stringify({ machine: { cpus: cpus().length, cpu: cpus()[0]?.model }, date: new Date().toISOString().slice(0, 10), runtimes: ['onnxruntime-node (1 thread)', 'LiteRT.js @litertjs/core WASM in Chromium'], results }, null, 1)}\n`);
console.log('| dataset | runtime | test images | float acc | int8 acc | drop (points) | float MB | int8 MB | size | float ms | int8 ms |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  for (const [name, x] of [['ONNX Runtime', r.onnx], ['LiteRT.js', r.tflite]]) {
    console.log(`| ${r.dataset} | ${name} | ${r.testImages} | ${x.float.accuracy.toFixed(3)} | ${x.int8.accuracy.toFixed(3)} | ${(100 * x.accuracyDrop).toFixed(1)} | ${(x.float.bytes / 2 ** 20).toFixed(1)} | ${(x.int8.bytes / 2 ** 20).toFixed(1)} | ${(100 * x.sizeRatio).toFixed(0)}% | ${x.float.msPerImage.median} | ${x.int8.msPerImage.median} |`);
  }
}
