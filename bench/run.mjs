#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --json] [-- --chromium-only]`: measures edgetune side by side in
// Node and in headless Chromium (WASM with and without threads; WebGPU where an
// adapter exists), prints one JSON object (--json) or a Markdown table, and
// writes bench/results/{latest.json,RESULTS.md,chart.svg}.
import { missedTargets } from './lib/targets.mjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { launch, PROFILES, ROOT } from '../e2e/harness.mjs';
import { buildBenchPage } from './lib/build-page.mjs';
import { serve } from '../scripts/serve.mjs';
import { chart, markdown } from './lib/report.mjs';
import { scaleRun } from './scale.mjs';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
// The Chromium WASM profiles alone (floor, fineTune, re-train, predict; minutes, not the
// full run's quarter hour): written to latest-chromium.json, the full results untouched.
const chromiumOnly = process.argv.includes('--chromium-only');
// --check: exit 1, naming each target the run missed (bench/lib/targets.mjs).
const check = process.argv.includes('--check');

/** With --check, names each missed target on stderr and exits 1 when there is one. */
function judge(result) {
  if (!check) return;
  const missed = missedTargets(result);
  for (const m of missed) process.stderr.write(`[bench] target missed: ${m.name} = ${m.value} (target ${m.op} ${m.target})\n`);
  if (missed.length) process.exit(1);
  process.stderr.write('[bench] every measured target met\n');
}
const log = (m) => process.stderr.write(`[bench] ${m}\n`);
const OUT = join(ROOT, 'bench/results');
const EPOCHS = 20;

function nodeProfile() {
  log('Node profile');
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/node-suite.ts'), ...(quick ? ['--quick'] : [])], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`node suite failed (exit ${r.status})`);
  return JSON.parse(r.stdout.toString().trim().split('\n').pop());
}

async function browserRun(serverUrl, flags, options) {
  const context = await launch(flags);
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${serverUrl}/bench/page/index.html`);
    await page.waitForFunction(() => document.title === 'ready', null, { timeout: 60_000 });
    const result = await page.evaluate((o) => globalThis.runBench(o), options);
    if (errors.length) throw new Error(errors.join('; '));
    return result;
  } finally {
    await context.close();
  }
}

async function chromiumProfiles() {
  await buildBenchPage('bench-page');
  await buildBenchPage('bench-worker');
  const isolated = await serve(ROOT);
  const plain = await serve(ROOT, { isolated: false });
  const n = quick ? 50 : 200;
  const out = {};
  try {
    log('Chromium WASM (cross-origin isolated)');
    out.wasm = await browserRun(isolated.url, PROFILES.wasm, { backends: ['wasm'], quick, n, naiveN: n });
    log('Chromium WASM, cross-origin isolated, one thread (floor only)');
    out.wasmOneThread = await browserRun(isolated.url, PROFILES.wasm, { backends: ['wasm'], quick, floorOnly: true, wasmThreads: 1 });
    log('Chromium WASM without COOP/COEP (no threads)');
    out.wasmNoIsolation = await browserRun(plain.url, PROFILES.wasm, { backends: ['wasm'], quick, floorOnly: true });
    if (!quick) {
      log('Chromium WebGPU (floor only)');
      out.webgpu = await browserRun(isolated.url, PROFILES.webgpu, { backends: ['webgpu'], quick, floorOnly: true }).catch((e) => ({ skipped: String(e.message).slice(0, 300) }));
    }
  } finally {
    await isolated.close();
    await plain.close();
  }
  return out;
}

async function bundleSizes() {
  const entries = { 'edgetune (main)': 'dist/index.js', 'edgetune/worker': 'dist/worker.js', 'edgetune/engine': 'dist/engine/index.js' };
  const out = {};
  for (const [name, file] of Object.entries(entries)) {
    // Minified as a host's bundler would: the entry and what it statically imports.
    const r = await esbuild.build({ entryPoints: [join(ROOT, file)], bundle: true, minify: true, write: false, format: 'esm', platform: name.endsWith('engine') ? 'node' : 'browser', packages: name.endsWith('engine') ? 'external' : undefined, external: ['node:*', 'sharp'], logLevel: 'silent' });
    const code = r.outputFiles[0].contents;
    out[name] = { min: code.length, gzip: gzipSync(code).length };
  }
  return out;
}

/** The Chromium WASM profile's headline figures, as the issues' acceptance names them. */
function chromiumRatios(chromium) {
  const c = chromium.wasm;
  return {
    floorMsPerImage: c.floor.bestMs,
    fineTuneMs: c.fineTune.ms,
    ratioToFloor: c.fineTune.ratioToFloor,
    embedRatioToFloor: c.fineTune.embedRatioToFloor,
    naiveMs: c.naive.ms,
    naiveOverEdgetune: Number((c.naive.ms / c.fineTune.ms).toFixed(2)),
    retrainSpeedup: c.retrain.speedup,
    predictP50Ms: c.predict.p50Ms,
    predictOverForward: c.predict.overForward,
    longTasks: c.longTasks.fineTune.count,
    wasmThreads: c.backend.details.threads,
    wasmThreadsFloorRatio: Number((c.floor.bestMs / chromium.wasmOneThread.floor.bestMs).toFixed(3)),
  };
}

if (!existsSync(join(ROOT, 'dist/index.js'))) spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
const started = Date.now();
if (chromiumOnly) {
  const chromium = await chromiumProfiles();
  const summary = {
    ...chromiumRatios(chromium),
    mode: quick ? 'quick' : 'full',
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    wallS: Math.round((Date.now() - started) / 1000),
    chromium,
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'latest-chromium.json'), JSON.stringify(summary, null, 2) + '\n');
  process.stdout.write(JSON.stringify(summary) + '\n');
  judge(summary);
  process.exit(0);
}
const node = nodeProfile();
const chromium = await chromiumProfiles();
const bundles = await bundleSizes();
// The app at scale (5,000 images through the SDK): full mode only, it takes minutes.
let scale = null;
if (!quick) {
  log('Chromium: 5,000 images added and trained through the SDK');
  scale = await scaleRun();
  delete scale.longFrames;
}
const partialFile = join(OUT, 'partial-cli-latest.json');
const partialRun = existsSync(partialFile) ? JSON.parse(readFileSync(partialFile, 'utf8')) : null;
const result = {
  // Top level: the Chromium WASM profile, as the acceptance names them.
  ...chromiumRatios(chromium),
  wasmThreadsFloorRatioTarget: 0.65,
  nodeEmbedSpeedup: node.embed?.speedup ?? null,
  // From bench/partial.mjs's last run (its date and seeds in partialRun): a full run outlasts this bench.
  partialMinutes: partialRun?.meanMinutes ?? null,
  partialMinutesTarget: 15,
  nodeEmbedSpeedupTarget: 1.7,
  mainEntryGzipBytes: bundles['edgetune (main)'].gzip,
  mode: quick ? 'quick' : 'full',
  epochs: EPOCHS,
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  wallS: 0,
  chromium,
  node,
  bundles,
  scale,
  partialRun,
};
result.wallS = Math.round((Date.now() - started) / 1000);
mkdirSync(OUT, { recursive: true });
const suffix = quick ? '-quick' : '';
writeFileSync(join(OUT, `latest${suffix}.json`), JSON.stringify(result, null, 2) + '\n');
const md = markdown(result);
writeFileSync(join(OUT, `RESULTS${suffix}.md`), `Measured ${new Date().toISOString().slice(0, 10)} on ${result.machine.cpus} cores (${result.machine.cpu}), ${result.machine.memoryGiB} GiB, Node ${result.machine.node}, headless Chromium; \`npm run bench${quick ? ' -- --quick' : ''}\` (${result.wallS} s).\n\n${md}`);
writeFileSync(join(OUT, `chart${suffix}.svg`), chart(result));
process.stdout.write(json ? JSON.stringify(result) + '\n' : md);
log(`done in ${result.wallS} s; results in bench/results/`);
judge(result);
