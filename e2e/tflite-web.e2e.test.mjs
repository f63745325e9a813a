// The TFLite export in the runtime people deploy it with: LiteRT.js
// (@litertjs/core, XNNPACK in WebAssembly) in Chromium runs the model.tflite
// that the engine exported, and must give the engine's probabilities within
// 1e-4 on the same pixels: a head, a fine-tuned tail and a fully fine-tuned
// network, on both bundled backbones. Every request the page makes is answered
// from this process.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as esbuild from 'esbuild';
import { createEngine } from '../dist/engine/index.js';
import { ARTIFACTS, ROOT, launch, routeFromMemory } from './harness.mjs';

const ORIGIN = 'http://127.0.0.1:9';
const SIZE = 224;
const LITERT = join(ROOT, 'node_modules/@litertjs/core');

/** A 224x224 RGB picture: a disc, stripes or a checkerboard in a class colour. */
export function picture(kind, seed) {
  const data = new Uint8Array(SIZE * SIZE * 3);
  const period = 10 + (seed % 7);
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++) {
      const on = kind === 0 ? (x - 112 - seed) ** 2 + (y - 100) ** 2 < 60 ** 2 : kind === 1 ? Math.floor(y / period) % 2 === 0 : (Math.floor(x / period) + Math.floor(y / period)) % 2 === 0;
      const fg = [[210, 40, 40], [40, 60, 200], [40, 160, 60]][kind];
      for (let c = 0; c < 3; c++) data[(y * SIZE + x) * 3 + c] = on ? fg[c] : 230 - ((x * 7 + y * 3 + seed * 11) % 25);
    }
  return { data, width: SIZE, height: SIZE, channels: 3 };
}

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import { loadLiteRt, loadAndCompile, Tensor } from '/litert.js';
await loadLiteRt('/litert-wasm/');
window.runTflite = async (n) => {
  const [model, pixels] = await Promise.all(['/model.tflite', '/pixels.bin'].map((u) => fetch(u).then((r) => r.arrayBuffer())));
  const compiled = await loadAndCompile(new Uint8Array(model), { accelerator: 'wasm' });
  const input = compiled.getInputDetails().map((d) => ({ name: d.name, dtype: d.dtype, shape: Array.from(d.shape) }));
  const all = new Float32Array(pixels);
  const per = ${SIZE} * ${SIZE} * 3;
  const out = [];
  for (let i = 0; i < n; i++) {
    const x = new Tensor(all.slice(i * per, (i + 1) * per), [1, ${SIZE}, ${SIZE}, 3]);
    const [y] = await compiled.run(x);
    out.push(...Array.from(y.toTypedArray()));
    x.delete();
    y.delete();
  }
  compiled.delete();
  return { input, data: out };
};
window.ready = true;
</script>`;

/** LiteRT.js and its wasm-utils dependency as one module the page imports. */
async function bundleLiteRt() {
  const r = await esbuild.build({ entryPoints: [join(LITERT, 'dist/index.js')], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'warning' });
  return r.outputFiles[0].text;
}

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
  async function runInLiteRt(model, name) {
    const pixels = new Float32Array(images.length * SIZE * SIZE * 3);
    images.forEach((im, i) => pixels.set(im.data, i * SIZE * SIZE * 3));
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
      const out = await page.evaluate((n) => window.runTflite(n), images.length);
      assert.deepEqual(out.input, [{ name: 'image', dtype: 'float32', shape: [1, SIZE, SIZE, 3] }]);
      assert.ok(requests.every((u) => u.startsWith(ORIGIN)), `requests stay on the page's origin: ${requests}`);
      await page.screenshot({ path: join(ARTIFACTS, `tflite-web-${name}.png`) });
      const k = out.data.length / images.length;
      return images.map((_, i) => out.data.slice(i * k, (i + 1) * k));
    } finally {
      await page.close();
    }
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
    const [lite, ours] = [await runInLiteRt(model, name), await engineProbabilities(engine)];
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
        const [lite, ours] = [await runInLiteRt(int8, `${backbone}-int8`), await engineProbabilities(engine)];
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
