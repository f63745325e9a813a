// docs/onnx.md's Node snippet, run as written (its code block, copied out of the
// page) on an exported model, against `edgetune predict` on the same files:
// generated images of several sizes and aspect ratios always, real photos from
// ../shared/datasets when present. The exported model resizes inside its graph,
// so the snippet only decodes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { runCli } from '../testing/cli.js';
import { syntheticImage, SYNTHETIC_CLASSES } from '../testing/synthetic.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DATA = resolve(process.env.EDGETUNE_DATA ?? join(ROOT, '../shared/datasets'));
const STAMPS_TEST = join(DATA, 'stamps-dev', 'test');

/** The ```js block under the page's "## Node" heading. */
function nodeSnippet(): string {
  const page = readFileSync(join(ROOT, 'docs/onnx.md'), 'utf8');
  const section = page.slice(page.indexOf('## Node'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'docs/onnx.md has a js block under "## Node"');
  return m[1]!;
}

async function writeImage(path: string, cls: (typeof SYNTHETIC_CLASSES)[number], seed: number, w: number, h: number, format: 'png' | 'jpeg'): Promise<void> {
  const img = syntheticImage(cls, seed, w, h);
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  await (format === 'png' ? s.png() : s.jpeg({ quality: 90 })).toFile(path);
}

describe("docs/onnx.md's Node snippet against edgetune predict", () => {
  let dir: string;
  let snippet: string;
  const images: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetune-snippet-'));
    const classes = SYNTHETIC_CLASSES.slice(0, 3);
    for (const cls of classes) {
      await mkdir(join(dir, 'data', cls), { recursive: true });
      for (let i = 0; i < 6; i++) await writeImage(join(dir, 'data', cls, `${i}.png`), cls, i, 96, 96, 'png');
    }
    // Sizes the model must resize itself: wide, tall, odd, small, and over 448 px (decoded smaller first).
    const sizes: [number, number][] = [[300, 180], [97, 203], [224, 224], [50, 40], [640, 360], [333, 500]];
    await mkdir(join(dir, 'images'));
    for (const [i, [w, h]] of sizes.entries()) {
      const path = join(dir, 'images', `${i}-${w}x${h}.${i % 2 ? 'jpg' : 'png'}`);
      await writeImage(path, classes[i % 3]!, 50 + i, w, h, i % 2 ? 'jpeg' : 'png');
      images.push(path);
    }
    if (existsSync(STAMPS_TEST)) {
      for (const c of readdirSync(STAMPS_TEST)) images.push(...readdirSync(join(STAMPS_TEST, c)).slice(0, 3).map((f) => join(STAMPS_TEST, c, f)));
    } else {
      console.log(`# no real photos at ${STAMPS_TEST}: the snippet is checked on generated images only`);
    }
    const train = await runCli(['train', join(dir, 'data'), '--out', join(dir, 'model'), '--epochs', '6', '--seed', '1', '--no-cache', '--quiet']);
    assert.equal(train.code, 0, train.stderr);
    const exp = await runCli(['export', join(dir, 'model'), '--out', join(dir, 'onnx'), '--format', 'onnx', '--quiet']);
    assert.equal(exp.code, 0, exp.stderr);
    // Inside the repository, so that the snippet's imports resolve from its node_modules.
    snippet = join(ROOT, '.cache', 'docs-snippets', 'predict.mjs');
    await mkdir(join(ROOT, '.cache', 'docs-snippets'), { recursive: true });
    await writeFile(snippet, nodeSnippet());
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('gives the same top-1 label on every image, its probability within 1e-3', async () => {
    const r = await runCli(['predict', join(dir, 'model'), ...images, '--json', '--no-cache', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const expected = new Map((JSON.parse(r.stdout).predictions as { path: string; label: string; probability: number }[]).map((p) => [resolve(p.path), p]));
    let worst = 0;
    for (const file of images) {
      const { stdout } = await promisify(execFile)(process.execPath, [snippet, join(dir, 'onnx'), file]);
      const [label, probability] = stdout.trim().split(' ');
      const want = expected.get(resolve(file));
      assert.ok(want, `edgetune predicted ${file}`);
      assert.equal(label, want.label, file);
      const dp = Math.abs(Number(probability) - want.probability);
      worst = Math.max(worst, dp);
      assert.ok(dp <= 1e-3, `${file}: |dp| ${dp}`);
    }
    console.log(`# ${images.length} images, top-1 identical, max |dp| ${worst.toExponential(2)}`);
  });
});
