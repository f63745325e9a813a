#!/usr/bin/env node
// `node bench/scale.mjs [--images N] [--per-call K] [--size PX] [--input blob|img|canvas|imagedata] [--add-only]`:
// a browser app at scale.
// 5,000 images (10 classes, 96x96 PNG) go through createClassifier in headless
// Chromium (WASM worker, cross-origin isolated page): addExamples K at a time,
// then fineTune. Prints one JSON object: time, peak worker tensor memory, page
// heap, and every main-thread long task (the target is none).
import { join } from 'node:path';
import { launch, PROFILES, ROOT } from '../e2e/harness.mjs';
import { buildBenchPage } from './lib/build-page.mjs';
import { serve } from '../scripts/serve.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

/** Builds the page and runs the scale scenario in a fresh Chromium profile. */
export async function scaleRun(options = {}) {
  const o = { images: 5000, classes: 10, perCall: 100, epochs: 20, input: 'blob', train: true, size: 96, ...options };
  await buildBenchPage('scale-page');
  const server = await serve(ROOT);
  // Chromium measures its own memory precisely only with this flag (measureUserAgentSpecificMemory).
  const context = await launch([...PROFILES.wasm, '--enable-blink-features=ForceEagerMeasureMemory']);
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/bench/page/scale.html`);
    await page.waitForFunction(() => document.title === 'ready', null, { timeout: 60_000 });
    const result = await page.evaluate((opts) => globalThis.runScale(opts), o);
    if (errors.length) throw new Error(errors.join('; '));
    const summary = (tasks) => ({ count: tasks.length, maxMs: Math.max(0, ...tasks.map((t) => t.ms)) });
    return { ...result, longTaskSummary: { add: summary(result.longTasks.add), train: summary(result.longTasks.train) } };
  } finally {
    await context.close();
    await server.close();
  }
}

if (process.argv[1]?.endsWith('scale.mjs')) {
  const input = process.argv.includes('--input') ? process.argv[process.argv.indexOf('--input') + 1] : 'blob';
  const r = await scaleRun({ images: arg('images', 5000), perCall: arg('per-call', 100), size: arg('size', 96), input, train: !process.argv.includes('--add-only') });
  process.stdout.write(JSON.stringify(r) + '\n');
}
