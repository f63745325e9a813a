// The shipped browser SDK (dist/index.js + dist/worker.js) in Chromium: the
// classifier runs in a Comlink worker; errors keep their class and code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertOnlyOwnRequests, runInPage, startE2E } from './harness.mjs';

describe('createClassifier in Chromium (worker)', () => {
  let server;
  let tiny;

  before(async () => {
    ({ server, tiny } = await startE2E());
  });
  after(() => server?.close());

  const expectations = (r, backend) => {
    console.log(`# [${backend}] backend ${JSON.stringify(r.backend)}; long tasks during fineTune: ${JSON.stringify(r.trainLongTasks)}`);
    assert.equal(r.backend.name, backend);
    assert.deepEqual(r.labels, ['disc', 'stripes', 'checker']);
    // Progress arrives through Comlink.proxy: one 'train' event per epoch the report logs, in order.
    assert.deepEqual(r.progress, r.epochs, 'one progress event per logged epoch');
    assert.deepEqual(r.errors, {
      predictBeforeTraining: 'NOT_TRAINED',
      emptyLabel: 'INVALID_LABEL',
      badBlob: 'INVALID_IMAGE',
      abort: 'ABORTED',
      afterDispose: 'DISPOSED',
      loadMissing: 'MODEL_LOAD_FAILED',
      workerFails: 'WORKER_CRASHED',
    });
    assert.deepEqual(r.afterAbort, r.before, 'an aborted fineTune keeps the previous model');
    for (const other of [r.afterImport, r.fromIndexedDb]) {
      assert.deepEqual(other.map((x) => x[0].label), r.before.map((x) => x[0].label));
      other.flat().forEach((p, i) => assert.ok(Math.abs(p.probability - r.before.flat()[i].probability) < 1e-5));
    }
    assert.deepEqual(r.exportedFiles, ['README.md', 'edgetune.json', 'model.json', 'prototypes.bin', 'weights.bin']);
    assert.ok(r.trainLongTasks.every((d) => d < 50), `main-thread long tasks during fineTune: ${r.trainLongTasks}`);
  };

  it('[wasm] trains the default backbone in the worker on the WASM fallback', async () => {
    const { result, urls } = await runInPage(server.url, 'wasm', '/e2e/page/sdk.html', 'runSdk', { backends: ['webgpu', 'wasm', 'cpu'], perClass: 4, epochs: 6, augment: 1 });
    expectations(result, 'wasm');
    assert.match(result.backend.reasons.webgpu, /requestAdapter\(\) returned null/);
    assert.ok(result.accuracy >= 0.66, `accuracy ${result.accuracy}`);
    assertOnlyOwnRequests(urls, server.url);
  });

  it('[wasm] adds 300 ImageData and 100 <img> (224x224), 100 per call, without a main-thread long task', async () => {
    const { result: r } = await runInPage(server.url, 'wasm', '/e2e/page/sdk.html', 'runAddMany', { backends: ['wasm'], imageData: 300, images: 100, size: 224 });
    console.log(`# [wasm] add many: long tasks ${JSON.stringify(r.longTasks)}`);
    assert.deepEqual(r.counts, { data: { train: 300, val: 0 }, img: { train: 100, val: 0 } });
    assert.deepEqual(r.longTasks, [], 'no main-thread task over 50 ms while adding');
  });

  it('[wasm] runs a short partial fine-tune (last blocks unfrozen) in the worker', async () => {
    const { result: r, urls } = await runInPage(server.url, 'wasm', '/e2e/page/sdk.html', 'runPartial', { backends: ['wasm'] });
    console.log(`# [wasm] partial: backend ${r.backend.name}, stages ${r.stages}, prefix cache ${JSON.stringify(r.prefix)}, accuracy ${r.accuracy}`);
    assert.equal(r.backend.name, 'wasm');
    assert.deepEqual(r.stages, ['select', 'partial']);
    assert.equal(r.partialEpochs, 2);
    assert.deepEqual(r.prefix, { cached: 12, recomputed: 0, budgetBytes: 256 * 1024 * 1024 });
    assert.ok(r.accuracy >= 0.66, `accuracy ${r.accuracy}`);
    assert.deepEqual(r.files, ['README.md', 'edgetune.json', 'model.json', 'prototypes.bin', 'tail.bin', 'weights.bin']);
    assertOnlyOwnRequests(urls, server.url);
  });

  /** What a short full fine-tune must show on any backend. */
  function fullExpectations(r, backend) {
    assert.equal(r.backend.name, backend);
    assert.deepEqual(r.stages, ['select', 'partial'], 'the head, then the whole network with it');
    assert.equal(r.epochs, 1);
    assert.equal(r.unfreezeBlocks, 'all');
    assert.ok(Number.isFinite(r.loss) && r.memory.peakBytes > 0, JSON.stringify(r.memory));
    assert.ok(r.drift < 1e-4, `export/import changes a probability by ${r.drift}`);
  }

  it('[wasm] runs a short full fine-tune (every layer, the stem included) in the worker', async () => {
    const { result: r, urls } = await runInPage(server.url, 'wasm', '/e2e/page/sdk.html', 'runFull', { backends: ['wasm'], perClass: 3 });
    console.log(`# [wasm] full: memory ${JSON.stringify(r.memory)}, loss ${r.loss}`);
    fullExpectations(r, 'wasm');
    assertOnlyOwnRequests(urls, server.url);
  });

  it('[webgpu] runs a short full fine-tune on SwiftShader WebGPU (tiny backbone: two strided 3x3 convolutions)', async (t) => {
    const run = await runInPage(server.url, 'webgpu', '/e2e/page/sdk.html', 'runFull', { backends: ['webgpu'], backbone: tiny, perClass: 3 }).catch((e) => e);
    if (run instanceof Error && /\[webgpu\] navigator\.gpu\.requestAdapter\(\) returned null/.test(run.message)) {
      t.skip('this Chromium offers no WebGPU adapter even with --enable-unsafe-webgpu');
      return;
    }
    if (run instanceof Error) throw run;
    fullExpectations(run.result, 'webgpu');
    assertOnlyOwnRequests(run.urls, server.url);
  });

  it('[webgpu] runs the same flow on SwiftShader WebGPU (tiny backbone)', async (t) => {
    const run = await runInPage(server.url, 'webgpu', '/e2e/page/sdk.html', 'runSdk', { backends: ['webgpu'], backbone: tiny, perClass: 4, epochs: 6, augment: 0 }).catch((e) => e);
    if (run instanceof Error && /\[webgpu\] navigator\.gpu\.requestAdapter\(\) returned null/.test(run.message)) {
      t.skip('this Chromium offers no WebGPU adapter even with --enable-unsafe-webgpu');
      return;
    }
    if (run instanceof Error) throw run;
    expectations(run.result, 'webgpu');
    assert.equal(run.result.backend.details.software, true, 'SwiftShader is reported as a software adapter');
    assertOnlyOwnRequests(run.urls, server.url);
  });
});
