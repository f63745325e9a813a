#!/usr/bin/env node
// `node bench/int8.mjs [--datasets stamps-dev,fashion-dev] [--strategy head] [--seed 1] [--out FILE]`:
// what int8 costs, measured in the runtime people deploy with. Per dataset: train
// with the built CLI, export model.onnx float and int8 (calibrated on the
// training split), then run both in onnxruntime-node on the test split, decoded
// as docs/onnx.md's Node snippet decodes: accuracy overall and per class, file
// size, and latency per image (batch 1, one thread, after a warm-up).
// Writes bench/results/int8-latest.json (or --out) and prints a Markdown table.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { ROOT } from '../e2e/harness.mjs';

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
  return new ort.Tensor('uint8', new Uint8Array(data), [1, info.height, info.width, 3]);
}

async function score(modelPath, labels, test) {
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const perClass = Object.fromEntries(labels.map((l) => [l, { n: 0, correct: 0 }]));
  const ms = [];
  await session.run({ image: test[0].tensor }); // warm-up
  for (const { label, tensor } of test) {
    const t0 = performance.now();
    const { probabilities } = await session.run({ image: tensor });
    ms.push(performance.now() - t0);
    const p = Array.from(probabilities.data);
    perClass[label].n++;
    if (labels[p.indexOf(Math.max(...p))] === label) perClass[label].correct++;
  }
  await session.release();
  const correct = Object.values(perClass).reduce((a, c) => a + c.correct, 0);
  ms.sort((a, b) => a - b);
  return {
    accuracy: correct / test.length,
    perClass: Object.fromEntries(Object.entries(perClass).map(([l, c]) => [l, c.correct / c.n])),
    bytes: statSync(modelPath).size,
    msPerImage: { median: Number(ms[ms.length >> 1].toFixed(2)), mean: Number((ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(2)) },
  };
}

const results = [];
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
    const labels = JSON.parse(readFileSync(join(dir, 'float', 'labels.json'), 'utf8'));
    const test = [];
    for (const label of readdirSync(join(data, 'test')).sort()) {
      for (const f of readdirSync(join(data, 'test', label)).sort()) test.push({ label, tensor: await decode(join(data, 'test', label, f)) });
    }
    const float = await score(join(dir, 'float', 'model.onnx'), labels, test);
    const int8 = await score(join(dir, 'int8', 'model.onnx'), labels, test);
    const run = {
      dataset,
      strategy,
      seed: Number(seed),
      testImages: test.length,
      edgetuneTestAccuracy: trained.test?.accuracy,
      exportMs: { float: Math.round(floatMs), int8: Math.round(int8Ms) },
      float,
      int8,
      accuracyDrop: Number((float.accuracy - int8.accuracy).toFixed(4)),
      sizeRatio: Number((int8.bytes / float.bytes).toFixed(3)),
      speedup: Number((float.msPerImage.median / int8.msPerImage.median).toFixed(2)),
    };
    process.stderr.write(`[bench int8] ${JSON.stringify(run)}\n`);
    results.push(run);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const out = opt('out', join(ROOT, 'bench/results/int8-latest.json'));
writeFileSync(out, `${JSON.stringify({ machine: { cpus: cpus().length, cpu: cpus()[0]?.model }, date: new Date().toISOString().slice(0, 10), runtime: `onnxruntime-node ${ort.env.versions?.node ?? ''}`.trim(), results }, null, 1)}\n`);
console.log('| dataset | test images | float acc | int8 acc | drop (points) | float MB | int8 MB | size | float ms | int8 ms |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  console.log(`| ${r.dataset} | ${r.testImages} | ${r.float.accuracy.toFixed(3)} | ${r.int8.accuracy.toFixed(3)} | ${(100 * r.accuracyDrop).toFixed(1)} | ${(r.float.bytes / 2 ** 20).toFixed(1)} | ${(r.int8.bytes / 2 ** 20).toFixed(1)} | ${(100 * r.sizeRatio).toFixed(0)}% | ${r.float.msPerImage.median} | ${r.int8.msPerImage.median} |`);
}
