// The engine in a real Chromium, once per backend profile: WebGPU (SwiftShader
// via --enable-unsafe-webgpu) and the WASM fallback (no adapter without the flag).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertOnlyOwnRequests, runInPage, startE2E } from './harness.mjs';

/** Same labels in the same order, probabilities within `tol` (folding the head on export reorders float math). */
function assertSamePredictions(a, b, tol = 1e-5) {
  assert.deepEqual(a.map((r) => r.map((p) => p.label)), b.map((r) => r.map((p) => p.label)));
  a.flat().forEach((p, i) => assert.ok(Math.abs(p.probability - b.flat()[i].probability) < tol, `${p.probability} vs ${b.flat()[i].probability}`));
}

describe('engine in Chromium', () => {
  let server;
  let tiny;

  before(async () => {
    ({ server, tiny } = await startE2E());
  });
  after(() => server?.close());

  const scenario = (profile, options) => runInPage(server.url, profile, '/e2e/page/index.html', 'runScenario', options);
  const checkPrivacy = (urls) => assertOnlyOwnRequests(urls, server.url);

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

  it('[wasm] uses every core by default on a cross-origin isolated page, and wasmThreads sets the pool', async () => {
    const backend = (o) => runInPage(server.url, 'wasm', '/e2e/page/index.html', 'runBackend', o).then((r) => r.result);
    const all = await backend({});
    console.log(`# [wasm] default threads ${all.backend.details.threads} with hardwareConcurrency ${all.coresBefore}`);
    assert.equal(all.crossOriginIsolated, true);
    assert.equal(all.backend.details.threads, Math.min(8, all.coresBefore));
    assert.equal(all.coresAfter, all.coresBefore, 'navigator.hardwareConcurrency is the real value again');
    const one = await backend({ wasmThreads: 1 });
    assert.equal(one.backend.details.threads, 1);
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

  it('[cpu] runs when forced, and agrees with WASM', async () => {
    const wasm = await scenario('wasm', { backends: ['wasm'], backbone: tiny, perClass: 4, epochs: 5, augment: 0 });
    const cpu = await scenario('wasm', { backends: ['cpu'], backbone: tiny, perClass: 4, epochs: 5, augment: 0 });
    console.log(`# [cpu] backend ${JSON.stringify(cpu.result.backend)}`);
    assert.equal(cpu.result.backend.name, 'cpu');
    const maxDiff = Math.max(...wasm.result.embeddings.map((v, i) => Math.abs(v - cpu.result.embeddings[i])));
    assert.ok(maxDiff < 1e-3, `max |wasm - cpu| = ${maxDiff}`);
    checkPrivacy([...wasm.urls, ...cpu.urls]);
  });

  it('[gpu] uses a hardware WebGPU adapter where the machine has one', async (t) => {
    const run = await scenario('gpu', { backends: ['webgpu'], backbone: tiny, perClass: 4, epochs: 5, augment: 0 }).catch((e) => e);
    if (run instanceof Error && /requestAdapter\(\) returned null|navigator\.gpu/.test(run.message)) {
      t.skip('no GPU adapter on this machine (CI has none)');
      return;
    }
    if (run instanceof Error) throw run;
    if (run.result.backend.details.software) {
      t.skip(`only a software adapter here (${run.result.backend.details.adapter}); the [webgpu] tests cover it`);
      return;
    }
    console.log(`# [gpu] backend ${JSON.stringify(run.result.backend)}`);
    assert.equal(run.result.backend.name, 'webgpu');
    assertSamePredictions(run.result.after, run.result.before);
    checkPrivacy(run.urls);
  });
});
