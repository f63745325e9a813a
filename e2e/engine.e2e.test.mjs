// The engine in a real Chromium, once per backend profile: WebGPU (SwiftShader
// via --enable-unsafe-webgpu) and the WASM fallback (no adapter without the flag).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildPage, launch, makeTinyBackbone, PROFILES, ROOT } from './harness.mjs';
import { serve } from './server.mjs';

/** What the page may load: the page, its bundle, model files and the tfjs .wasm binaries. */
const ALLOWED = [/^\/e2e\//, /^\/models\//, /^\/node_modules\/@tensorflow\/tfjs-backend-wasm\/dist\/[\w-]+\.wasm$/, /^\/favicon\.ico$/];

/** Same labels in the same order, probabilities within `tol` (folding the head on export reorders float math). */
function assertSamePredictions(a, b, tol = 1e-5) {
  assert.deepEqual(a.map((r) => r.map((p) => p.label)), b.map((r) => r.map((p) => p.label)));
  a.flat().forEach((p, i) => assert.ok(Math.abs(p.probability - b.flat()[i].probability) < tol, `${p.probability} vs ${b.flat()[i].probability}`));
}

describe('engine in Chromium', () => {
  let server;
  let tiny;
  const results = {};

  before(async () => {
    await buildPage();
    tiny = await makeTinyBackbone();
    server = await serve(ROOT);
  });
  after(() => server?.close());

  /** Opens the page under a profile and runs one scenario; returns its result and every URL requested. */
  async function scenario(profile, options) {
    const context = await launch(PROFILES[profile]);
    try {
      const page = await context.newPage();
      const urls = [];
      page.on('request', (r) => urls.push(r.url()));
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${server.url}/e2e/page/index.html`);
      await page.waitForFunction(() => document.title === 'ready', null, { timeout: 60_000 });
      const result = await page.evaluate((o) => globalThis.runScenario(o), options);
      assert.deepEqual(errors, []);
      return { result, urls };
    } finally {
      await context.close();
    }
  }

  function checkPrivacy(urls) {
    for (const u of urls) {
      // blob: URLs are in-memory objects (tfjs' WASM thread workers), not network requests.
      if (u.startsWith('blob:') || u.startsWith('data:')) continue;
      const url = new URL(u);
      assert.equal(url.origin, server.url, `request to another origin: ${u}`);
      assert.ok(ALLOWED.some((re) => re.test(url.pathname)), `unexpected request: ${url.pathname}`);
    }
  }

  it('[wasm] falls back to WASM without a WebGPU adapter, with the reason, and trains the default backbone', async () => {
    const { result, urls } = await scenario('wasm', { backends: ['webgpu', 'wasm', 'cpu'], backbone: 'mobilenet_v2_140', perClass: 4, epochs: 8, augment: 1 });
    console.log(`# [wasm] backend ${JSON.stringify(result.backend)}`);
    assert.equal(result.backend.name, 'wasm');
    assert.match(result.backend.reasons.webgpu, /requestAdapter\(\) returned null|navigator\.gpu/);
    assert.equal(result.crossOriginIsolated, true);
    assert.equal(result.backend.details.simd, true);
    assert.ok(result.accuracy >= 0.66, `accuracy ${result.accuracy} (chance 0.33)`);
    assert.ok(result.epochsReported >= 1);
    assertSamePredictions(result.after, result.before);
    checkPrivacy(urls);
  });

  it('[wasm] and [webgpu] compute the same embeddings on a tiny backbone', async (t) => {
    const wasm = await scenario('wasm', { backends: ['wasm'], backbone: tiny, perClass: 4, epochs: 5, augment: 0 });
    const gpu = await scenario('webgpu', { backends: ['webgpu'], backbone: tiny, perClass: 4, epochs: 5, augment: 0 }).catch((e) => e);
    if (gpu instanceof Error && /No backend could be initialized: \[webgpu\] navigator\.gpu\.requestAdapter\(\) returned null/.test(gpu.message)) {
      t.skip('this Chromium offers no WebGPU adapter even with --enable-unsafe-webgpu');
      return;
    }
    if (gpu instanceof Error) throw gpu;
    console.log(`# [webgpu] backend ${JSON.stringify(gpu.result.backend)}`);
    assert.equal(gpu.result.backend.name, 'webgpu');
    assertSamePredictions(gpu.result.after, gpu.result.before);
    const maxDiff = Math.max(...wasm.result.embeddings.map((v, i) => Math.abs(v - gpu.result.embeddings[i])));
    assert.ok(maxDiff < 1e-3, `max |wasm - webgpu| = ${maxDiff}`);
    checkPrivacy([...wasm.urls, ...gpu.urls]);
  });
});
