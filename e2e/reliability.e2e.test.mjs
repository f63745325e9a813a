// Reliability in Chromium through the shipped SDK (WASM, tiny backbone for
// speed): bad inputs give typed errors and never kill the worker, BUSY,
// a 2,000-prediction and 30-cycle soak, crash + restart, privacy, and the
// persistent cache after a reload.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertOnlyOwnRequests, runInPage, startE2E } from './harness.mjs';

describe('SDK reliability in Chromium (WASM)', () => {
  let server;
  let tiny;

  before(async () => {
    ({ server, tiny } = await startE2E());
  });
  after(() => server?.close());

  it('survives bad input, concurrency, a soak and a worker crash, and keeps images on the device', async () => {
    const { result: r, urls } = await runInPage(server.url, 'wasm', '/e2e/page/reliability.html', 'runReliability', { backbone: tiny, predicts: 2000, cycles: 30 });
    console.log(`# [wasm] bad inputs: ${JSON.stringify(r.bad)}`);
    console.log(`# [wasm] soak tensors: ${r.soak.base.numTensors} -> ${r.soak.afterPredicts.numTensors} (2000 predicts) -> ${r.soak.afterCycles.numTensors} (30 cycles); IndexedDB ${JSON.stringify(r.soak.records)}`);
    assert.deepEqual(r.bad, {
      zeroByteBlob: 'INVALID_IMAGE',
      textAsJpeg: 'INVALID_IMAGE',
      truncatedPng: 'INVALID_IMAGE',
      svgBlob: 'INVALID_IMAGE',
      closedBitmap: 'INVALID_IMAGE',
      videoWithoutFrame: 'INVALID_IMAGE',
      notAnArray: 'INVALID_ARGUMENT',
      emptyLabel: 'INVALID_LABEL',
      longLabel: 'INVALID_LABEL',
      reservedLabel: 'INVALID_LABEL',
      noExamples: 'NO_EXAMPLES',
      badOption: 'INVALID_ARGUMENT',
      badTopK: 'INVALID_ARGUMENT',
    });
    assert.deepEqual(r.labels, ['cats/dogs', 'ñandú 🐦']);
    assert.equal(r.dupCount.train, 5, 'adding to an existing label extends that class');
    // An all-zero frame is a valid image: one finite probability per class, summing to 1, best first.
    assert.deepEqual(r.zeroPrediction.map((p) => p.label).sort(), [...r.labels].sort());
    const probs = r.zeroPrediction.map((p) => p.probability);
    assert.ok(probs.every(Number.isFinite) && Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4, JSON.stringify(probs));
    assert.deepEqual(probs, [...probs].sort((a, b) => b - a));
    assert.equal(r.busy, 'BUSY');
    assert.equal(r.soak.afterPredicts.numTensors, r.soak.base.numTensors);
    assert.equal(r.soak.afterCycles.numTensors, r.soak.base.numTensors);
    assert.ok(r.soak.afterCycles.numBytes <= r.soak.base.numBytes * 1.01, 'tensor memory returns to its baseline');
    assert.equal(r.soak.records.models, 1, 'one live model in IndexedDB after 30 saves');
    assert.deepEqual(r.crashCodes, { pending: 'WORKER_CRASHED', later: 'WORKER_CRASHED' });
    assert.deepEqual(r.restarted.labels, r.labels);
    assert.equal(r.afterRestartTop, r.savedTop);
    assert.ok(r.sameAfterRestart, 'restart() reloads the last saved model');
    assert.deepEqual(r.retrain, { computed: 0, hits: 9 }, 'a new worker retrains from the IndexedDB cache without backbone passes');
    assert.deepEqual(r.exportedFiles, ['README.md', 'edgetune.json', 'model.json', 'prototypes.bin', 'weights.bin']);
    assert.ok(r.metaBytes < 20_000, `edgetune.json is metadata only (${r.metaBytes} bytes)`);
    assertOnlyOwnRequests(urls, server.url);
  });

  it('[wasm] a save that fails (quota, a broken store) keeps the saved version, which a fresh classifier loads', async () => {
    const { result: r, urls } = await runInPage(server.url, 'wasm', '/e2e/page/reliability.html', 'runFailedSaves', { backbone: tiny });
    assert.deepEqual(r.codes, { quota: 'QUOTA_EXCEEDED', 'write-error': 'SAVE_FAILED' });
    assert.deepEqual(r.labels, ['disc', 'stripes'], 'the two-class model saved before the failures, not the three-class one');
    assert.deepEqual(r.loaded.map((p) => p.label), r.saved.map((p) => p.label));
    r.saved.forEach((p, i) => assert.ok(Math.abs(p.probability - r.loaded[i].probability) < 1e-5, `${p.probability} vs ${r.loaded[i].probability}`));
    assertOnlyOwnRequests(urls, server.url);
  });

  it('[webgpu] falls back to WASM when the device is lost, keeping the trained model and examples', async (t) => {
    const run = await runInPage(server.url, 'webgpu', '/e2e/page/reliability.html', 'runDeviceLoss', { backbone: tiny }).catch((e) => e);
    if (run instanceof Error && /requestAdapter\(\) returned null/.test(run.message)) {
      t.skip('this Chromium offers no WebGPU adapter even with --enable-unsafe-webgpu');
      return;
    }
    if (run instanceof Error) throw run;
    const r = run.result;
    console.log(`# [webgpu] before ${r.before.name}; after device loss ${r.after.name}: ${r.after.reasons.webgpu}`);
    assert.equal(r.before.name, 'webgpu');
    assert.equal(r.after.name, 'wasm');
    assert.match(r.after.reasons.webgpu, /device was lost/);
    assert.equal(r.backendProperty.name, 'wasm', 'clf.backend follows the fallback');
    assert.deepEqual(r.p2.map((p) => p.label), r.p1.map((p) => p.label));
    r.p1.forEach((p, i) => assert.ok(Math.abs(p.probability - r.p2[i].probability) < 1e-3, `${p.probability} vs ${r.p2[i].probability}`));
    assert.deepEqual(r.retrainedLabels, ['disc', 'stripes']);
    assertOnlyOwnRequests(run.urls, server.url);
  });
});
