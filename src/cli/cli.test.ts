// The edgetune command (the built one, in-process) over ImageFolder trees generated in code.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { runCli } from '../testing/cli.js';
import { syntheticImage, SYNTHETIC_CLASSES } from '../testing/synthetic.js';

const cli = (...args: string[]) => runCli(args);

async function writePng(path: string, cls: (typeof SYNTHETIC_CLASSES)[number], seed: number): Promise<void> {
  const img = syntheticImage(cls, seed, 64);
  await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toFile(path);
}

/** <root>/{train,val,test}/<class>/*.png for the first `classes` synthetic classes. */
async function makeDataset(root: string, classes = 2, counts = { train: 8, val: 2, test: 4 }): Promise<void> {
  for (const [split, n] of Object.entries(counts)) {
    if (n === 0) continue;
    for (const cls of SYNTHETIC_CLASSES.slice(0, classes)) {
      await mkdir(join(root, split, cls), { recursive: true });
      for (let i = 0; i < n; i++) await writePng(join(root, split, cls, `${i}.png`), cls, split.length * 100 + i);
    }
  }
  await writeFile(join(root, 'train', 'manifest.csv'), 'not,an,image\n'); // must be ignored
}

describe('edgetune CLI', () => {
  let dir: string;
  let data: string;
  let model: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetune-cli-'));
    data = join(dir, 'data');
    model = join(dir, 'model');
    await makeDataset(data);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('trains on an ImageFolder with train/val/test and reports test accuracy as JSON', async () => {
    const r = await cli('train', data, '--out', model, '--epochs', '8', '--augment', '1', '--seed', '3', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.backend.name, 'wasm');
    assert.deepEqual(out.report.labels, ['disc', 'stripes']);
    assert.equal(out.report.validationCount, 4, 'the val folder is the validation set');
    assert.ok(out.test.accuracy >= 0.75, `test accuracy ${out.test.accuracy}`);
    for (const f of ['edgetune.json', 'model.json', 'weights.bin']) assert.ok(existsSync(join(model, f)), f);
  });

  it('writes a model card (README.md) whose metrics and counts are the test evaluation, and every export carries it', async () => {
    const out = join(dir, 'model-card');
    const r = await cli('train', data, '--out', out, '--epochs', '4', '--augment', '0', '--seed', '5', '--json');
    assert.equal(r.code, 0, r.stderr);
    const { test } = JSON.parse(r.stdout);
    const check = (card: string, files: string[]) => {
      const [, yaml, body] = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(card) ?? [];
      assert.ok(yaml && body, 'YAML front matter, then prose');
      assert.match(yaml, /pipeline_tag: image-classification/);
      assert.match(yaml, /dataset: \{ name: "data", type: imagefolder, split: "test" \}/);
      assert.equal(Number(/type: accuracy, value: ([\d.]+)/.exec(yaml)?.[1]), Number(test.accuracy.toFixed(4)));
      for (const p of test.perClass) {
        assert.equal(Number(new RegExp(`recall \\(${p.label}\\)", value: ([\\d.]+)`).exec(yaml)?.[1]), Number(p.recall.toFixed(4)), p.label);
        assert.match(body, new RegExp(`\\| ${p.label} \\| 8 \\| 2 \\| 4 \\|`), `${p.label}: train, validation and test counts`);
      }
      assert.match(body, new RegExp(`accuracy \\*\\*${(test.accuracy * 100).toFixed(1)}%\\*\\*`));
      assert.match(body, /nsfwjs/, 'names where the backbone comes from');
      for (const f of files) assert.ok(body.includes(`\`${f}\``), `a snippet for ${f}`);
    };
    check(await readFile(join(out, 'README.md'), 'utf8'), []);
    // `export` reads the evaluation back from edgetune.json.
    const exp = await cli('export', out, '--out', join(dir, 'card-tflite'), '--format', 'tflite');
    assert.equal(exp.code, 0, exp.stderr);
    check(await readFile(join(dir, 'card-tflite', 'README.md'), 'utf8'), ['model.tflite']);
  });

  it('inspects an ImageFolder: a copy of a train image in test is a duplicate across splits; bad options are usage errors', async () => {
    const copy = join(data, 'test', 'disc', 'copy-of-train-0.png');
    await writeFile(copy, await readFile(join(data, 'train', 'disc', '0.png')));
    try {
      const r = await cli('inspect', data, '--json', '--cache-dir', join(dir, 'inspect-cache'));
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.n, 16 + 4 + 9);
      const leak = report.duplicates.find((g: { kind: string; crossSplit: boolean }) => g.kind === 'exact' && g.crossSplit);
      assert.ok(leak, JSON.stringify(report.duplicates));
      assert.deepEqual(leak.items.map((i: { split: string }) => i.split).sort(), ['test', 'train']);
      assert.deepEqual(report.classes.map((c: { label: string }) => c.label), ['disc', 'stripes']);
      const human = await cli('inspect', data, '--cache-dir', join(dir, 'inspect-cache'));
      assert.match(human.stdout, /duplicates: \d+ groups \(1 exact\), \d+ across splits/);
      assert.match(human.stdout, /exact, across splits: .*copy-of-train-0\.png \[test\/disc\]/);
    } finally {
      await rm(copy);
    }
    assert.equal((await cli('inspect')).code, 2);
    const folds = await cli('inspect', data, '--folds', '1', '--no-cache');
    assert.equal(folds.code, 2);
    assert.match(folds.stderr, /--folds must be an integer from 2 to 20, got 1/);
  });

  it('reuses the on-disk embedding cache when training again on the same images', async () => {
    const r = await cli('train', data, '--out', model, '--epochs', '2', '--augment', '1', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.report.embeddingsComputed, 0);
    assert.equal(out.report.cacheHits, 20 * 2, 'plain + one augmented view of each train and val image (refit trains on both)');
  });

  it('evaluates the test split with accuracy, per-class metrics and a confusion matrix', async () => {
    const r = await cli('eval', model, data, '--json');
    assert.equal(r.code, 0, r.stderr);
    const ev = JSON.parse(r.stdout);
    assert.equal(ev.n, 8);
    assert.deepEqual(ev.labels, ['disc', 'stripes']);
    assert.equal(ev.perClass.length, 2);
    assert.equal(ev.confusion.flat().reduce((a: number, b: number) => a + b, 0), 8);
    assert.ok(ev.accuracy >= 0.75);
  });

  it('writes a predictions CSV with one row per image and top-k columns', async () => {
    const csv = join(dir, 'pred.csv');
    const r = await cli('predict', model, join(data, 'test'), '--top-k', '2', '--csv', csv);
    assert.equal(r.code, 0, r.stderr);
    const lines = (await readFile(csv, 'utf8')).trim().split('\n');
    assert.equal(lines[0], 'path,label,probability,top1_label,top1_probability,top2_label,top2_probability');
    assert.equal(lines.length, 1 + 8);
    const correct = lines.slice(1).filter((l) => l.split(',')[0]!.includes(`/${l.split(',')[1]}/`)).length;
    assert.ok(correct >= 6, `${correct} of 8 rows predicted their folder's class`);
  });

  it('exports a merged model directory', async () => {
    const outDir = join(dir, 'exported');
    const r = await cli('export', model, '--out', outDir, '--merged');
    assert.equal(r.code, 0, r.stderr);
    const meta = JSON.parse(await readFile(join(outDir, 'edgetune.json'), 'utf8'));
    assert.equal(meta.merged.modelUrl, 'merged/model.json');
    assert.ok(existsSync(join(outDir, 'merged', 'weights.bin')));
  });

  it('exports model.tflite with --format tflite, and refuses an unknown format naming the valid ones', async () => {
    const outDir = join(dir, 'tflite');
    const r = await cli('export', model, '--out', outDir, '--format', 'tflite', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(Object.keys(JSON.parse(r.stdout).files).sort(), ['README.md', 'labels.json', 'model.tflite']);
    const bytes = await readFile(join(outDir, 'model.tflite'));
    assert.equal(bytes.subarray(4, 8).toString('latin1'), 'TFL3');
    assert.deepEqual(JSON.parse(await readFile(join(outDir, 'labels.json'), 'utf8')), ['disc', 'stripes']);
    const bad = await cli('export', model, '--out', join(dir, 'tflite2'), '--format', 'tf-lite');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--format is one of edgetune, onnx, tflite, not 'tf-lite'/);
    assert.equal(existsSync(join(dir, 'tflite2')), false);
  });

  it('continues from a trained model with --from: a new class is added, the old ones warm-started', async () => {
    const more = join(dir, 'data3');
    await makeDataset(more, 3);
    const out3 = join(dir, 'model3');
    const r = await cli('train', more, '--out', out3, '--from', model, '--epochs', '6', '--augment', '0', '--json');
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.deepEqual([...res.report.labels].sort(), ['checker', 'disc', 'stripes']);
    assert.equal(res.report.warmStarted, true);
    assert.match(r.stderr, /continuing from/);
  });

  it('trains the partial strategy from the command line and exports the tail', async () => {
    const out = join(dir, 'model-partial');
    // One unfrozen block: the command line's plumbing does not depend on the depth (partial.test.ts trains the default).
    const r = await cli('train', data, '--out', out, '--strategy', 'partial', '--unfreeze-blocks', '1', '--partial-epochs', '1', '--epochs', '4', '--augment', '0', '--json');
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.report.strategy, 'partial');
    assert.equal(res.report.config.unfreezeBlocks, 1);
    assert.equal(res.report.partial.history.length, 1);
    // The tail ships only when it beat the head-only model on validation.
    const meta = JSON.parse(await readFile(join(out, 'edgetune.json'), 'utf8'));
    assert.equal(existsSync(join(out, 'tail.bin')), res.report.partial.bestEpoch > 0);
    assert.equal(meta.formatVersion, res.report.partial.bestEpoch > 0 ? 2 : 1);
  });

  describe('bad input: one-line error, non-zero exit, no output directory', () => {
    const cases: [string, (root: string) => Promise<void>, RegExp][] = [
      ['a missing data folder', async () => {}, /INVALID_DATASET: .*no such directory/],
      ['an empty data folder', async (root) => mkdir(root, { recursive: true }).then(() => undefined), /INVALID_DATASET: .*no class folders/],
      ['a single class', async (root) => makeDataset(root, 1, { train: 3, val: 0, test: 0 }), /TOO_FEW_CLASSES: .*only class 'disc'/],
      [
        'a class with no images',
        async (root) => {
          await makeDataset(root, 2, { train: 3, val: 0, test: 0 });
          await mkdir(join(root, 'train', 'empty'));
        },
        /INVALID_DATASET: .*empty: class has no images/,
      ],
    ];
    for (const [what, setup, pattern] of cases) {
      it(`fails on ${what}`, async () => {
        const root = join(dir, `bad-${what.replace(/\W+/g, '-')}`);
        await setup(root);
        const out = join(dir, `out-${what.replace(/\W+/g, '-')}`);
        const r = await cli('train', root, '--out', out, '--epochs', '1');
        assert.equal(r.code, 1);
        assert.match(r.stderr.trim().split('\n').at(-1)!, pattern);
        assert.ok(!existsSync(out), 'no output directory left behind');
      });
    }

    it('fails on an unknown backbone id', async () => {
      const out = join(dir, 'out-backbone');
      const r = await cli('train', data, '--out', out, '--backbone', 'resnet50');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /UNKNOWN_BACKBONE: Unknown backbone 'resnet50'/);
      assert.ok(!existsSync(out));
    });

    it('fails on a manifest whose weights fail the hash check', async () => {
      const bbDir = join(dir, 'custom-backbone');
      await mkdir(bbDir, { recursive: true });
      const src = fileURLToPath(new URL('../../models/mobilenet_v2/', import.meta.url));
      for (const f of await readdir(src)) await writeFile(join(bbDir, f), await readFile(join(src, f)));
      const shard = join(bbDir, 'group1-shard1of1.bin');
      const bytes = await readFile(shard);
      bytes[123]! ^= 0xff;
      await writeFile(shard, bytes);
      const out = join(dir, 'out-hash');
      const r = await cli('train', data, '--out', out, '--backbone', join(bbDir, 'manifest.json'));
      assert.equal(r.code, 1);
      assert.match(r.stderr, /MODEL_INTEGRITY: .*group1-shard1of1\.bin has sha256/);
      assert.ok(!existsSync(out));
    });

    it('skips a corrupt image with a warning, and fails on it with --strict', async () => {
      const root = join(dir, 'corrupt');
      await makeDataset(root, 2, { train: 4, val: 0, test: 0 });
      await writeFile(join(root, 'train', 'disc', 'broken.png'), 'this is not a png');
      const lenient = await cli('train', root, '--out', join(dir, 'out-lenient'), '--epochs', '1', '--augment', '0');
      assert.equal(lenient.code, 0, lenient.stderr);
      assert.match(lenient.stderr, /warning: skipping .*broken\.png/);
      const strictOut = join(dir, 'out-strict');
      const strict = await cli('train', root, '--out', strictOut, '--epochs', '1', '--augment', '0', '--strict');
      assert.equal(strict.code, 1);
      assert.match(strict.stderr, /INVALID_IMAGE: .*broken\.png/);
      assert.ok(!existsSync(strictOut));
    });

    it('exits 2 with usage on a missing --out', async () => {
      const r = await cli('train', data);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /Usage:/);
    });

    it('exits 2 on an unknown --strategy or --partial-schedule, naming the choices', async () => {
      for (const [flag, value] of [['--strategy', 'all'], ['--partial-schedule', 'fast']]) {
        const r = await cli('train', data, '--out', join(dir, 'schedule'), '--strategy', 'partial', flag!, value!);
        assert.equal(r.code, 2, `${flag} ${value}`);
        assert.match(r.stderr, new RegExp(`${flag} must be .*'${value}'`));
        assert.ok(!existsSync(join(dir, 'schedule')));
      }
    });

    it('exits 2 on a thread count (--threads or EDGETUNE_THREADS) that is not a whole number of at least 1', async () => {
      for (const bad of ['0', '1.5', 'all']) {
        const r = await cli('train', data, '--out', join(dir, 'threads'), '--threads', bad);
        assert.equal(r.code, 2, `--threads ${bad}`);
        assert.match(r.stderr, /--threads/);
      }
      process.env.EDGETUNE_THREADS = 'many';
      try {
        const r = await cli('train', data, '--out', join(dir, 'threads'));
        assert.equal(r.code, 2);
        assert.match(r.stderr, /EDGETUNE_THREADS must be a whole number/);
      } finally {
        delete process.env.EDGETUNE_THREADS;
      }
    });
  });
});
