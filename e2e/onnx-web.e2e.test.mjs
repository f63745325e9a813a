// The ONNX export in a browser runtime nobody here wrote: onnxruntime-web (WASM)
// in Chromium runs the model.onnx that the engine exported, and must give the
// engine's probabilities within 1e-4 on the same pixels, for a head and for a
// fine-tuned tail; and docs/onnx.md's page snippet (canvas decoding, any size)
// must agree with edgetune on the pixels edgetune's worker decodes from the same
// files. Every request the page makes is answered from this process.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { createEngine } from '../dist/engine/index.js';
import { picture224 as picture } from './fixtures.mjs';
import { ARTIFACTS, launch, routeFromMemory } from './harness.mjs';

const ORIGIN = 'http://127.0.0.1:9';
const SIZE = 224;


const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import * as ort from '/ort/ort.wasm.min.mjs';
ort.env.wasm.wasmPaths = '/ort/';
ort.env.wasm.numThreads = 1;
window.runOnnx = async (n) => {
  const [model, pixels] = await Promise.all(['/model.onnx', '/pixels.bin'].map((u) => fetch(u).then((r) => r.arrayBuffer())));
  const session = await ort.InferenceSession.create(new Uint8Array(model), { executionProviders: ['wasm'] });
  const out = await session.run({ image: new ort.Tensor('uint8', new Uint8Array(pixels), [n, ${SIZE}, ${SIZE}, 3]) });
  await session.release();
  return { dims: out.probabilities.dims, data: Array.from(out.probabilities.data) };
};
window.ready = true;
</script>`;

describe('ONNX export run by onnxruntime-web (WASM) in Chromium', () => {
  let engine;
  let context;
  const images = [0, 1, 2, 0, 1, 2].map((k, i) => picture(k, i));

  before(async () => {
    engine = await createEngine({ backends: ['wasm', 'cpu'] });
    for (let i = 0; i < 15; i++) await engine.addExamples(['disc', 'stripes', 'checker'][i % 3], [picture(i % 3, 20 + i)]);
    context = await launch();
  });
  after(async () => {
    await context?.close();
    engine?.dispose();
  });

  /** Exports, serves the file to the page, and returns the max abs difference from the engine's (or `reference`'s) probabilities. */
  async function agreement(name, model = null, reference = null) {
    model ??= (await engine.export({ format: 'onnx' }))['model.onnx'];
    const pixels = new Uint8Array(images.length * SIZE * SIZE * 3);
    images.forEach((im, i) => pixels.set(im.data, i * SIZE * SIZE * 3));
    const page = await context.newPage();
    const requests = await routeFromMemory(page, ORIGIN, (path) => {
      if (path === '/') return { contentType: 'text/html', body: PAGE };
      if (path === '/model.onnx') return { contentType: 'application/octet-stream', body: Buffer.from(model) };
      if (path === '/pixels.bin') return { contentType: 'application/octet-stream', body: Buffer.from(pixels.buffer) };
      return null;
    });
    try {
      await page.goto(`${ORIGIN}/`);
      await page.waitForFunction(() => window.ready === true);
      const out = await page.evaluate((n) => window.runOnnx(n), images.length);
      assert.deepEqual(out.dims, [images.length, engine.labels.length]);
      let max = 0;
      if (reference) reference.forEach((v, i) => (max = Math.max(max, Math.abs(v - out.data[i]))));
      else {
        const predictions = await engine.predictBatch(images, { topK: engine.labels.length });
        predictions.forEach((p, i) => p.forEach((q) => (max = Math.max(max, Math.abs(q.probability - out.data[i * engine.labels.length + engine.labels.indexOf(q.label)])))));
      }
      console.log(`# ${name}: onnxruntime-web vs ${reference ? 'onnxruntime-node' : 'engine'}, max abs difference ${max.toExponential(2)} over ${images.length} images`);
      assert.ok(requests.every((u) => u.startsWith(ORIGIN)), `requests stay on the page's origin: ${requests}`);
      await page.screenshot({ path: join(ARTIFACTS, `onnx-web-${name}.png`) });
      return max;
    } finally {
      await page.close();
    }
  }

  it('head: the same probabilities within 1e-4', async () => {
    await engine.fineTune({ epochs: 4, seed: 1, validationSplit: 0.34 });
    const diff = await agreement('head');
    assert.ok(diff <= 1e-4, `max abs difference ${diff}`);
  });

  it('partial (a fine-tuned tail): the same probabilities within 1e-4', async () => {
    await engine.fineTune({ strategy: 'partial', unfreezeBlocks: 1, partialEpochs: 2, epochs: 4, seed: 1, validationSplit: 0.34, refit: false });
    const diff = await agreement('partial');
    assert.ok(diff <= 1e-4, `max abs difference ${diff}`);
  });

  it('int8 (QDQ): onnxruntime-web gives onnxruntime-node\'s probabilities for the same file', async () => {
    const model = (await engine.export({ format: 'onnx', int8: true, calibrationImages: 12 }))['model.onnx'];
    const session = await ort.InferenceSession.create(model);
    const reference = [];
    for (const im of images) reference.push(...(await session.run({ image: new ort.Tensor('uint8', im.data, [1, SIZE, SIZE, 3]) })).probabilities.data);
    await session.release();
    const diff = await agreement('int8', model, reference);
    assert.ok(diff <= 1e-3, `max abs difference ${diff}`);
  });
});
