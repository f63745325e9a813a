// The TFLite export in the runtime people deploy it with: LiteRT.js
// (@litertjs/core, XNNPACK in WebAssembly) in Chromium runs the model.tflite
// that the engine exported, and must give the engine's probabilities within
// 1e-4 on the same pixels: a head, a fine-tuned tail and a fully fine-tuned
// network, on both bundled backbones; an int8 export keeps the confident
// answers at under 30% of the size. Every request the page makes is answered
// from this process.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createEngine } from '../dist/engine/index.js';
import { picture224 as picture } from './fixtures.mjs';
import { ARTIFACTS, launch } from './harness.mjs';
import { bundleLiteRt, runInLiteRt } from './litert-page.mjs';

const SIZE = 224;


describe('TFLite export run by LiteRT.js (WASM) in Chromium', () => {
  let context;
  let litert;
  const images = [0, 1, 2, 0, 1, 2].map((k, i) => picture(k, i));

  before(async () => {
    litert = await bundleLiteRt();
    context = await launch();
  });
  after(async () => {
    await context?.close();
  });

  /** Runs `model` on the images in LiteRT.js; returns its probabilities, image after image. */
  async function runLite(model, name) {
    const inputs = images.map((im) => Float32Array.from(im.data));
    const out = await runInLiteRt(context, litert, model, inputs, [1, SIZE, SIZE, 3], join(ARTIFACTS, `tflite-web-${name}.png`));
    assert.deepEqual(out.input, [{ name: 'image', dtype: 'float32', shape: [1, SIZE, SIZE, 3] }]);
    return out.out;
  }

  /** The engine's probabilities in label order, image after image. */
  async function engineProbabilities(engine) {
    const predictions = await engine.predictBatch(images, { topK: engine.labels.length });
    return predictions.map((p) => engine.labels.map((l) => p.find((q) => q.label === l).probability));
  }

  const maxDiff = (a, b) => Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j]))));

  /** Exports, runs the file in the page, and returns the max abs difference from the engine's probabilities. */
  async function agreement(engine, name) {
    const model = (await engine.export({ format: 'tflite' }))['model.tflite'];
    const [lite, ours] = [await runLite(model, name), await engineProbabilities(engine)];
    assert.equal(lite[0].length, engine.labels.length);
    const max = maxDiff(lite, ours);
    console.log(`# ${name}: LiteRT.js vs engine, max abs difference ${max.toExponential(2)} over ${images.length} images (${(model.length / 2 ** 20).toFixed(1)} MiB)`);
    return max;
  }

  for (const backbone of ['mobilenet_v2', 'mobilenet_v2_140']) {
    describe(backbone, () => {
      let engine;
      before(async () => {
        engine = await createEngine({ backbone, backends: ['wasm', 'cpu'] });
        for (let i = 0; i < 12; i++) await engine.addExamples(['disc', 'stripes', 'checker'][i % 3], [picture(i % 3, 20 + i)]);
      });
      after(() => engine?.dispose());

      it('head: the same probabilities within 1e-4', async () => {
        await engine.fineTune({ epochs: 4, seed: 1, validationSplit: 0.34 });
        const diff = await agreement(engine, `${backbone}-head`);
        assert.ok(diff <= 1e-4, `max abs difference ${diff}`);
      });

      it('partial (a fine-tuned tail): the same probabilities within 1e-4', async () => {
        await engine.fineTune({ strategy: 'partial', partial: { unfreezeBlocks: 1, epochs: 1 }, epochs: 4, seed: 1, validationSplit: 0.34, refit: false });
        const diff = await agreement(engine, `${backbone}-partial`);
        assert.ok(diff <= 1e-4, `max abs difference ${diff}`);
      });

      it('full (every layer fine-tuned): the same probabilities within 1e-4', async () => {
        await engine.fineTune({ strategy: 'full', full: { epochs: 1 }, epochs: 4, seed: 1, validationSplit: 0.34, refit: false });
        const diff = await agreement(engine, `${backbone}-full`);
        assert.ok(diff <= 1e-4, `max abs difference ${diff}`);
      });

      it('int8 (calibrated on the examples): at most 30% of the float file, the confident answers kept, probabilities close', async () => {
        const float = (await engine.export({ format: 'tflite' }))['model.tflite'];
        const int8 = (await engine.export({ format: 'tflite', int8: true, calibrationImages: 12 }))['model.tflite'];
        assert.ok(int8.length <= 0.3 * float.length, `int8 ${int8.length} bytes, float ${float.length}`);
        const [lite, ours] = [await runLite(int8, `${backbone}-int8`), await engineProbabilities(engine)];
        const argmax = (p) => p.indexOf(Math.max(...p));
        ours.forEach((p, i) => {
          const [first, second] = [...p].sort((x, y) => y - x);
          if (first - second >= 0.3) assert.equal(argmax(lite[i]), argmax(p), `image ${i}: the same top-1`);
        });
        const max = maxDiff(lite, ours);
        console.log(`# ${backbone}-int8: LiteRT.js int8 vs engine float, max abs difference ${max.toFixed(4)}; ${((100 * int8.length) / float.length).toFixed(1)}% of the float size`);
        assert.ok(max <= 0.25, `max abs difference ${max}`);
      });
    });
  }
});
