// docs/onnx.md's web-page snippet, as written, in Chromium with onnxruntime-web:
// each image file is classified by the snippet (canvas decoding, the model's own
// resize) and decoded by edgetune's worker decoder in the same page; the engine's
// prediction on those pixels is what the SDK answers for that file. Generated
// images of several sizes always, real photos from ../shared/datasets when present.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as esbuild from 'esbuild';
import sharp from 'sharp';
import { createEngine } from '../dist/engine/index.js';
import { ROOT, launch, routeFromMemory } from './harness.mjs';

const ORIGIN = 'http://127.0.0.1:9';
const DATA = resolve(process.env.EDGETUNE_DATA ?? join(ROOT, '../shared/datasets'));
const STAMPS_TEST = join(DATA, 'stamps-dev', 'test');

/** The ```js block under the page's "## A web page" heading. */
function webSnippet() {
  const page = readFileSync(join(ROOT, 'docs/onnx.md'), 'utf8');
  const m = /```js\n([\s\S]*?)```/.exec(page.slice(page.indexOf('## A web page')));
  assert.ok(m, 'docs/onnx.md has a js block under "## A web page"');
  return m[1];
}

/** A picture of class k (0 disc, 1 stripes, 2 checker), w x h, as PNG or JPEG bytes. */
async function picture(k, seed, w, h, format) {
  const data = new Uint8Array(w * h * 3);
  const period = 8 + (seed % 7);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const on = k === 0 ? (x - w / 2) ** 2 + (y - h / 2) ** 2 < (Math.min(w, h) / 3) ** 2 : k === 1 ? Math.floor(y / period) % 2 === 0 : (Math.floor(x / period) + Math.floor(y / period)) % 2 === 0;
      const fg = [[210, 40, 40], [40, 60, 200], [40, 160, 60]][k];
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = on ? fg[c] : 230 - ((x * 7 + y * 3 + seed * 11) % 25);
    }
  const s = sharp(data, { raw: { width: w, height: h, channels: 3 } });
  return new Uint8Array(await (format === 'png' ? s.png() : s.jpeg({ quality: 90 })).toBuffer());
}

const pageHtml = (snippet) => `<!doctype html><meta charset="utf-8">
<script type="importmap">{ "imports": { "onnxruntime-web": "/ort/ort.wasm.min.mjs" } }</script>
<script type="module">
${snippet}
import { decodeWorkerImage } from '/decode.js';
const b64 = (bytes) => { let s = ''; for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000)); return btoa(s); };
window.run = async (names) => {
  const out = [];
  for (const name of names) {
    const blob = await (await fetch('/images/' + name)).blob();
    const { label, probability } = await classify(blob);
    const raw = await decodeWorkerImage(blob, name);
    out.push({ name, label, probability, width: raw.width, height: raw.height, data: b64(raw.data) });
  }
  return out;
};
window.ready = true;
</script>`;

describe("docs/onnx.md's web snippet (onnxruntime-web) against edgetune", () => {
  let engine;
  let context;
  let model;
  /** name -> bytes of every image the page classifies. */
  const files = new Map();

  before(async () => {
    engine = await createEngine({ backends: ['wasm', 'cpu'] });
    for (let i = 0; i < 15; i++) await engine.addExamples(['disc', 'stripes', 'checker'][i % 3], [{ ...(await sharp(await picture(i % 3, 20 + i, 96, 96, 'png')).raw().toBuffer({ resolveWithObject: true }).then(({ data, info }) => ({ data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 }))) }]);
    await engine.fineTune({ epochs: 6, seed: 1, validationSplit: 0.34 });
    model = await engine.export({ format: 'onnx' });
    const sizes = [[300, 180], [97, 203], [224, 224], [50, 40], [640, 360], [333, 500]];
    for (const [i, [w, h]] of sizes.entries()) {
      const format = i % 2 ? 'jpeg' : 'png';
      files.set(`${i}-${w}x${h}.${format}`, await picture(i % 3, 50 + i, w, h, format));
    }
    if (existsSync(STAMPS_TEST)) {
      for (const c of readdirSync(STAMPS_TEST)) for (const f of readdirSync(join(STAMPS_TEST, c)).slice(0, 2)) files.set(`${c}-${f}`, readFileSync(join(STAMPS_TEST, c, f)));
    } else {
      console.log(`# no real photos at ${STAMPS_TEST}: the web snippet is checked on generated images only`);
    }
    context = await launch();
  });
  after(async () => {
    await context?.close();
    engine?.dispose();
  });

  it('gives the same top-1 label on every image, its probability within 1e-3', async () => {
    const decode = await esbuild.build({ entryPoints: [join(ROOT, 'src/worker/images.ts')], bundle: true, format: 'esm', write: false, logLevel: 'warning' });
    const page = await context.newPage();
    const requests = await routeFromMemory(page, ORIGIN, (path) => {
      if (path === '/') return { contentType: 'text/html', body: pageHtml(webSnippet()) };
      if (path === '/decode.js') return { contentType: 'text/javascript', body: decode.outputFiles[0].text };
      if (path === '/model/model.onnx') return { contentType: 'application/octet-stream', body: Buffer.from(model['model.onnx']) };
      if (path === '/model/labels.json') return { contentType: 'application/json', body: Buffer.from(model['labels.json']) };
      if (path.startsWith('/images/') && files.has(path.slice(8))) return { contentType: path.endsWith('png') ? 'image/png' : 'image/jpeg', body: Buffer.from(files.get(path.slice(8))) };
      return null;
    });
    try {
      await page.goto(`${ORIGIN}/`);
      await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
      const results = await page.evaluate((names) => window.run(names), [...files.keys()]);
      let worst = 0;
      for (const r of results) {
        const [top] = await engine.predict({ data: new Uint8Array(Buffer.from(r.data, 'base64')), width: r.width, height: r.height, channels: 4 });
        assert.equal(r.label, top.label, r.name);
        const dp = Math.abs(r.probability - top.probability);
        worst = Math.max(worst, dp);
        assert.ok(dp <= 1e-3, `${r.name}: |dp| ${dp}`);
      }
      console.log(`# ${results.length} images, top-1 identical, max |dp| ${worst.toExponential(2)}`);
      assert.ok(requests.every((u) => u.startsWith(ORIGIN)), `requests stay on the page's origin: ${requests}`);
    } finally {
      await page.close();
    }
  });
});
