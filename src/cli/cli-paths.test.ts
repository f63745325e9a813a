// The CLI as scripts and logs meet it (the built one, in-process): exit
// codes on unreadable input, warnings once, quiet logs off a TTY, help and
// version, and eval/predict on a warm embedding cache.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { syntheticImage, SYNTHETIC_CLASSES } from '../testing/synthetic.js';
import { runCli } from '../testing/cli.js';
import { COMMANDS } from './usage.js';

const cli = runCli;
// Discs and triangles: each generated one is a different picture (generated stripes repeat their
// period and phase, and inspect rightly calls two of them in different splits duplicates).
const CLASSES = ['disc', 'triangle'] as const;

async function png(cls: (typeof SYNTHETIC_CLASSES)[number], seed: number, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const img = syntheticImage(cls, seed, 64);
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })[format]().toBuffer();
}

describe('CLI paths people take in scripts', () => {
  let dir: string;
  let data: string;
  let model: string;
  let bad: Record<'empty' | 'text' | 'truncated', string>;
  let good: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetune-cli-paths-'));
    data = join(dir, 'data');
    model = join(dir, 'model');
    for (const [split, n] of [['train', 6], ['val', 2], ['test', 3]] as const) {
      for (const cls of CLASSES) {
        await mkdir(join(data, split, cls), { recursive: true });
        for (let i = 0; i < n; i++) await writeFile(join(data, split, cls, `${i}.png`), await png(cls, split.length * 100 + i));
      }
    }
    const jpeg = await png('disc', 999, 'jpeg');
    bad = { empty: join(dir, 'zero.jpg'), text: join(dir, 'notes.jpg'), truncated: join(dir, 'cut.jpg') };
    await writeFile(bad.empty, '');
    await writeFile(bad.text, 'this is a text file, not a JPEG\n');
    await writeFile(bad.truncated, jpeg.subarray(0, Math.floor(jpeg.length / 3)));
    good = join(data, 'test', 'disc', '0.png');
    const r = await cli(['train', data, '--out', model, '--epochs', '3', '--augment', '0', '--seed', '1']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('off a TTY, train prints one progress line per phase; --quiet prints nothing but the result', async () => {
    const r = await cli(['train', data, '--out', join(dir, 'm2'), '--epochs', '4', '--augment', '0']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.trim().split('\n');
    const phases = lines.map((l) => l.split(' ')[0]);
    assert.equal(phases.filter((p) => p === 'embed').length, 1, r.stderr);
    assert.ok(lines.filter((l) => l.startsWith('train ')).length <= 2, `one line per training stage:\n${r.stderr}`);
    assert.equal(lines.filter((l) => l.startsWith('evaluate')).length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /[░█]|\x1b\[|% \|/, 'no bar frames in a log');
    assert.equal(r.stdout, '', 'stdout is for results: train writes a model directory');
    const quiet = await cli(['train', data, '--out', join(dir, 'm3'), '--epochs', '2', '--augment', '0', '--quiet']);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '');
    assert.equal(quiet.stdout, '');
  });

  it('predict exits 1 with one line when no input could be read (empty, text named .jpg, truncated JPEG)', async () => {
    for (const [what, path] of Object.entries(bad)) {
      const r = await cli(['predict', model, path, '--json']);
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      const errors = r.stderr.trim().split('\n').filter((l) => l.startsWith('edgetune:') && !l.includes('warning'));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0]!, /^edgetune: INVALID_IMAGE: None of the 1 images could be read/);
      assert.equal(JSON.parse(r.stdout).error.code, 'INVALID_IMAGE');
    }
  });

  it('predict and eval write results alone on stdout (one line per image; the table), information on stderr', async () => {
    const p = await cli(['predict', model, good, join(data, 'test', 'triangle', '0.png')]);
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(p.stdout.trim().split('\n').map((l) => l.split('\t')[0]), [good, join(data, 'test', 'triangle', '0.png')]);
    assert.match(p.stderr, /^model .*: 2 classes/m);
    const e = await cli(['eval', model, data]);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /^accuracy [\d.]+% on 6 images\n/);
    assert.doesNotMatch(e.stdout, /backbone passes|^model /m);
  });

  it('predict skips unreadable files with one warning each, once even when given twice; --strict fails on them', async () => {
    const r = await cli(['predict', model, good, bad.text, bad.truncated, bad.text, good, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.predictions.map((p: { path: string }) => p.path), [good], 'each file predicted once');
    const warnings = r.stderr.split('\n').filter((l) => l.includes('warning'));
    assert.equal(warnings.filter((w) => w.includes('notes.jpg')).length, 1, r.stderr);
    assert.equal(warnings.filter((w) => w.includes('cut.jpg')).length, 1, r.stderr);
    const strict = await cli(['predict', model, good, bad.truncated, '--strict']);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr.trim().split('\n').at(-1)!, /^edgetune: INVALID_IMAGE: .*cut\.jpg/);
  });

  it('eval exits 1 when no image could be read, skips the unreadable ones otherwise', async () => {
    const ds = join(dir, 'unreadable');
    for (const cls of CLASSES) {
      await mkdir(join(ds, cls), { recursive: true });
      await writeFile(join(ds, cls, 'a.jpg'), await readFile(bad.truncated));
      await writeFile(join(ds, cls, 'b.png'), '');
    }
    const none = await cli(['eval', model, ds]);
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr.trim().split('\n').at(-1)!, /^edgetune: INVALID_IMAGE: None of the \d images could be read/);
    await writeFile(join(ds, 'disc', 'c.png'), await png('disc', 5));
    const some = await cli(['eval', model, ds, '--json']);
    assert.equal(some.code, 0, some.stderr);
    const report = JSON.parse(some.stdout);
    assert.equal(report.n, 1);
    assert.equal(report.skipped.length, 4, 'two empty files, two truncated JPEGs');
    assert.equal(some.stderr.split('\n').filter((l) => l.includes('warning')).length, 4, some.stderr);
  });

  it('eval and predict read and fill the embedding cache: a second run makes no backbone pass', async () => {
    const cacheDir = join(dir, 'eval-cache');
    const first = JSON.parse((await cli(['eval', model, data, '--json', '--cache-dir', cacheDir])).stdout);
    assert.deepEqual(first.embeddings, { computed: 6, cached: 0 });
    const second = JSON.parse((await cli(['eval', model, data, '--json', '--cache-dir', cacheDir])).stdout);
    assert.deepEqual(second.embeddings, { computed: 0, cached: 6 });
    assert.equal(second.accuracy, first.accuracy);
    // train evaluated the test split into <model>/cache, which eval uses by default.
    const fromTrain = JSON.parse((await cli(['eval', model, data, '--json'])).stdout);
    assert.deepEqual(fromTrain.embeddings, { computed: 0, cached: 6 });
    const off = JSON.parse((await cli(['eval', model, data, '--json', '--no-cache'])).stdout);
    assert.deepEqual(off.embeddings, { computed: 6, cached: 0 });
  });

  it('with a fine-tuned tail, eval reads the prefix activations train stored', async () => {
    const partial = join(dir, 'partial');
    // --partial-schedule direct: the tail trains on train + val and is always kept.
    const t = await cli(['train', data, '--out', partial, '--strategy', 'partial', '--unfreeze-blocks', '1', '--partial-epochs', '1', '--partial-schedule', 'direct', '--epochs', '2', '--augment', '0', '--json']);
    assert.equal(t.code, 0, t.stderr);
    const trained = JSON.parse(t.stdout);
    assert.equal(trained.report.config.partialSchedule, 'direct');
    const trainedTest = trained.test;
    const files = await readdir(partial);
    // Without a kept tail this would only re-test the embedding cache.
    assert.ok(files.includes('tail.bin'), `the tail was kept: ${files.join(', ')}`);
    const r = JSON.parse((await cli(['eval', partial, data, '--json'])).stdout);
    assert.deepEqual(r.embeddings, { computed: 0, cached: 6 });
    assert.equal(r.accuracy, trainedTest.accuracy);
  });

  it('prints --version, the overview, and each command\'s own --help', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
    const v = await cli(['--version']);
    assert.deepEqual([v.code, v.stdout], [0, `edgetune ${pkg.version}\n`]);
    const overview = await cli(['--help']);
    assert.equal(overview.code, 0);
    for (const c of COMMANDS) assert.match(overview.stdout, new RegExp(`^  ${c} `, 'm'));
    for (const c of COMMANDS) {
      const h = await cli([c, '--help']);
      assert.equal(h.code, 0);
      assert.match(h.stdout, new RegExp(`^Usage: edgetune ${c} `));
    }
    const bad = await cli(['predict', model]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Usage: edgetune predict/);
    const unknown = await cli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  });
});
