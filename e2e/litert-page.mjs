// LiteRT.js (@litertjs/core, its WASM build) in a Chromium page, served from
// this process: what the TFLite e2e test and bench/int8.mjs run exported
// model.tflite files in. Nothing is fetched from outside.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { ROOT, routeFromMemory } from './harness.mjs';

const ORIGIN = 'http://127.0.0.1:9';
const LITERT = join(ROOT, 'node_modules/@litertjs/core');

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import { loadLiteRt, loadAndCompile, Tensor } from '/litert.js';
await loadLiteRt('/litert-wasm/');
window.runTflite = async (n, shape) => {
  const [model, pixels] = await Promise.all(['/model.tflite', '/pixels.bin'].map((u) => fetch(u).then((r) => r.arrayBuffer())));
  const compiled = await loadAndCompile(new Uint8Array(model), { accelerator: 'wasm' });
  const input = compiled.getInputDetails().map((d) => ({ name: d.name, dtype: d.dtype, shape: Array.from(d.shape) }));
  const all = new Float32Array(pixels);
  const per = all.length / n;
  const out = [];
  const ms = [];
  for (let i = 0; i < n; i++) {
    const x = new Tensor(all.slice(i * per, (i + 1) * per), shape);
    const t0 = performance.now();
    const [y] = await compiled.run(x);
    out.push(Array.from(y.toTypedArray()));
    ms.push(performance.now() - t0);
    x.delete();
    y.delete();
  }
  compiled.delete();
  return { input, out, ms };
};
window.ready = true;
</script>`;

/** LiteRT.js and its wasm-utils dependency as one module the page imports. */
export async function bundleLiteRt() {
  const r = await esbuild.build({ entryPoints: [join(LITERT, 'dist/index.js')], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'warning' });
  return r.outputFiles[0].text;
}

/**
 * Runs `model` (model.tflite bytes) on `inputs` (float32 arrays of `shape`,
 * one image each) in a new page of `context`; returns the input details,
 * each image's output, and each run's milliseconds.
 */
export async function runInLiteRt(context, litert, model, inputs, shape, screenshot) {
  const pixels = new Float32Array(inputs.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of inputs) {
    pixels.set(x, o);
    o += x.length;
  }
  const page = await context.newPage();
  const requests = await routeFromMemory(page, ORIGIN, (path) => {
    if (path === '/') return { contentType: 'text/html', body: PAGE };
    if (path === '/litert.js') return { contentType: 'text/javascript', body: litert };
    if (path.startsWith('/litert-wasm/')) {
      const file = path.slice('/litert-wasm/'.length);
      if (!/^[\w.-]+$/.test(file)) return null;
      return { contentType: file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', body: readFileSync(join(LITERT, 'wasm', file)) };
    }
    if (path === '/model.tflite') return { contentType: 'application/octet-stream', body: Buffer.from(model) };
    if (path === '/pixels.bin') return { contentType: 'application/octet-stream', body: Buffer.from(pixels.buffer) };
    return null;
  });
  try {
    await page.goto(`${ORIGIN}/`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
    const result = await page.evaluate(([n, s]) => window.runTflite(n, s), [inputs.length, shape]);
    assert.ok(requests.every((u) => u.startsWith(ORIGIN)), `requests stay on the page's origin: ${requests}`);
    if (screenshot) await page.screenshot({ path: screenshot });
    return result;
  } finally {
    await page.close();
  }
}

/** The ```js block under docs/tflite.md's "## The resize", as a function. */
export function docsToModelInput() {
  const page = readFileSync(join(ROOT, 'docs/tflite.md'), 'utf8');
  const m = /```js\n([\s\S]*?)```/.exec(page.slice(page.indexOf('## The resize')));
  assert.ok(m, 'docs/tflite.md has a js block under "## The resize"');
  return new Function(`${m[1].replace('export function', 'function')}\nreturn toModelInput;`)();
}
