// Shared e2e plumbing: build the page bundle, make a tiny test backbone, launch
// Debian's Chromium through playwright-core (no browser download).
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { DEFAULT_CHROMIUM, findChromium } from '../scripts/ensure-chromium.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BUILD = join(ROOT, 'e2e', '.build');
/** Screenshots and other artifacts a person looks at after a run. */
export const ARTIFACTS = join(ROOT, 'test-results');
export const CHROMIUM = findChromium() ?? process.env.CHROMIUM_PATH ?? DEFAULT_CHROMIUM;

/** Backend profiles: the flags that make Chromium offer (or not) a WebGPU adapter. */
export const PROFILES = {
  // SwiftShader WebGPU: correct, slow; needs a secure origin (127.0.0.1).
  webgpu: ['--enable-unsafe-webgpu'],
  // No flag: requestAdapter() returns null, the natural WASM fallback.
  wasm: [],
  // A real GPU (the GPU machine): Vulkan through ANGLE. Tests on it skip unless a hardware adapter appears.
  gpu: ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=vulkan', '--ignore-gpu-blocklist', '--enable-gpu'],
};

export async function buildPage() {
  await esbuild.build({
    entryPoints: { 'engine-page': join(ROOT, 'e2e/page/engine-page.ts'), 'sdk-page': join(ROOT, 'e2e/page/sdk-page.ts'), 'reliability-page': join(ROOT, 'e2e/page/reliability-page.ts'), 'testing-worker': join(ROOT, 'e2e/page/testing-worker.ts') },
    outdir: BUILD,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // The SDK page imports the shipped /dist/index.js by URL, not a rebundled copy.
    external: ['node:*', 'sharp', '/dist/index.js'],
    logLevel: 'warning',
  });
}

/**
 * Launches Chromium with the flags this machine needs and a fresh profile; returns its browser context.
 * `contextOptions`: playwright's (viewport, hasTouch, isMobile for a phone).
 */
export async function launch(extraFlags = [], contextOptions = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run \`npm test\` (it installs Debian's chromium as root), \`sudo apt-get install chromium\`, or set CHROMIUM_PATH`);
  const userDataDir = mkdtempSync(join(tmpdir(), 'edgetune-chromium-'));
  // Playwright takes the fresh profile directory as launchPersistentContext's argument.
  return chromium.launchPersistentContext(userDataDir, {
    ...contextOptions,
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      ...extraFlags,
    ],
  });
}

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

/**
 * A tiny layers backbone (two strided convs, 32x32 input, 16-d average-pooled
 * features) with fixed weights: fast enough for SwiftShader WebGPU.
 */
export async function makeTinyBackbone(dir = join(BUILD, 'tiny')) {
  await mkdir(dir, { recursive: true });
  const layers = [
    { class_name: 'InputLayer', config: { batch_input_shape: [null, 32, 32, 3], dtype: 'float32', name: 'input' }, name: 'input', inbound_nodes: [] },
    conv('conv1', 8, 'input'),
    conv('conv2', 16, 'conv1'),
  ];
  const topology = {
    class_name: 'Model',
    config: { name: 'tiny', layers, input_layers: [['input', 0, 0]], output_layers: [['conv2', 0, 0]] },
    keras_version: 'tfjs-layers', backend: 'tensor_flow.js',
  };
  // Deterministic weights from a simple LCG.
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.6;
  const specs = [];
  const parts = [];
  for (const [name, cin, cout] of [['conv1', 3, 8], ['conv2', 8, 16]]) {
    const k = Float32Array.from({ length: 3 * 3 * cin * cout }, rnd);
    const b = Float32Array.from({ length: cout }, rnd);
    specs.push({ name: `${name}/kernel`, shape: [3, 3, cin, cout], dtype: 'float32' }, { name: `${name}/bias`, shape: [cout], dtype: 'float32' });
    parts.push(Buffer.from(k.buffer), Buffer.from(b.buffer));
  }
  const weights = Buffer.concat(parts);
  const modelJson = Buffer.from(JSON.stringify({ format: 'layers-model', modelTopology: { model_config: topology }, weightsManifest: [{ paths: ['weights.bin'], weights: specs }] }));
  const manifest = {
    manifestVersion: 1, id: 'tiny_test', name: 'tiny e2e test backbone', format: 'layers', modelUrl: 'model.json',
    inputSize: [32, 32], normalization: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }, featureNode: 'conv2', pooling: 'avg', embeddingSize: 16,
    files: { 'model.json': { sha256: sha256(modelJson), bytes: modelJson.length }, 'weights.bin': { sha256: sha256(weights), bytes: weights.length } },
  };
  await writeFile(join(dir, 'model.json'), modelJson);
  await writeFile(join(dir, 'weights.bin'), weights);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return '/e2e/.build/tiny/manifest.json';
}

function conv(name, filters, inbound) {
  return {
    class_name: 'Conv2D',
    name,
    config: { name, filters, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu', use_bias: true, data_format: 'channels_last', dilation_rate: [1, 1], trainable: false },
    inbound_nodes: [[[inbound, 0, 0, {}]]],
  };
}

/** What pages may load: pages, bundles, the package's dist (SDK, worker, .wasm), model files. */
const ALLOWED = [/^\/e2e\//, /^\/dist\//, /^\/models\//, /^\/node_modules\/@tensorflow\/tfjs-backend-wasm\/dist\/[\w-]+\.wasm$/, /^\/favicon\.ico$/];

/** Every request stays on the test server and under the allowed paths (images never leave the device). */
export function assertOnlyOwnRequests(urls, origin) {
  for (const u of urls) {
    // blob: URLs are in-memory objects (tfjs' WASM thread workers), not network requests.
    if (u.startsWith('blob:') || u.startsWith('data:')) continue;
    const url = new URL(u);
    if (url.origin !== origin) throw new Error(`request to another origin: ${u}`);
    if (!ALLOWED.some((re) => re.test(url.pathname))) throw new Error(`unexpected request: ${url.pathname}`);
  }
}

/**
 * Opens `page` on the server under a backend profile, calls `globalThis[fn](options)`
 * there and returns its result with every URL the page and its workers requested.
 */
export async function runInPage(serverUrl, profile, page, fn, options) {
  const context = await launch(PROFILES[profile]);
  try {
    const urls = [];
    context.on('request', (r) => urls.push(r.url()));
    const tab = await context.newPage();
    const errors = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    await tab.goto(`${serverUrl}${page}`);
    await tab.waitForFunction(() => document.title === 'ready', null, { timeout: 60_000 });
    const result = await tab.evaluate(([f, o]) => globalThis[f](o), [fn, options]);
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    return { result, urls };
  } finally {
    await context.close();
  }
}

/** Builds the pages, writes the tiny backbone and starts the server; call from before(). */
export async function startE2E() {
  const { serve } = await import('../scripts/serve.mjs');
  await buildPage();
  const tiny = await makeTinyBackbone();
  const server = await serve(ROOT);
  return { server, tiny };
}

const ORT_DIST = join(ROOT, 'node_modules/onnxruntime-web/dist');

/**
 * Answers every request of `page` from this process: `serve(path)` returns
 * { contentType, body } or nothing (404); /ort/<file> is onnxruntime-web's dist;
 * other origins are aborted. Returns the list of requested URLs.
 */
export async function routeFromMemory(page, origin, serve) {
  const requests = [];
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    requests.push(url.href);
    if (url.origin !== origin) return route.abort();
    const path = decodeURIComponent(url.pathname);
    if (path.startsWith('/ort/') && /^[\w.-]+$/.test(path.slice(5))) {
      const file = path.slice(5);
      return route.fulfill({ contentType: file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', body: readFileSync(join(ORT_DIST, file)) });
    }
    const found = serve(path);
    return found ? route.fulfill(found) : route.fulfill({ status: 404, body: '' });
  });
  return requests;
}

let axeSource;
/** axe-core (the engine behind browsers' accessibility audits) on `page` as it is now: no rule violation. */
export async function axe(page, state) {
  axeSource ??= readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
  // Evaluated as a function body, so the page's own script policy does not apply.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => (await window.axe.run(document)).violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`));
  assert.deepEqual(violations, [], `axe-core, ${state}`);
}
