// What the CLI does with what a user owns and with hostile input: it never
// deletes a file it did not write, never crashes on duplicates or special files,
// never reads without bound, and answers every mistake with a typed error, up front.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { syntheticImage, SYNTHETIC_CLASSES } from '../testing/synthetic.js';
import { runCli } from '../testing/cli.js';

async function png(cls: (typeof SYNTHETIC_CLASSES)[number], seed: number): Promise<Buffer> {
  const img = syntheticImage(cls, seed, 48);
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
}

/** <root>/<split>/<name>/*.png, the class's pictures drawn as `cls`. */
async function addClass(root: string, name: string, cls: (typeof SYNTHETIC_CLASSES)[number], counts: Record<string, number> = { train: 5 }): Promise<void> {
  for (const [split, n] of Object.entries(counts)) {
    await mkdir(join(root, split, name), { recursive: true });
    for (let i = 0; i < n; i++) await writeFile(join(root, split, name, `${i}.png`), await png(cls, split.length * 100 + i));
  }
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Rewrites one file of a model folder and records its new hash in edgetune.json, as a crafted model would. */
async function craft(model: string, name: string, bytes: Uint8Array): Promise<void> {
  await writeFile(join(model, name), bytes);
  const meta = JSON.parse(await readFile(join(model, 'edgetune.json'), 'utf8'));
  if (meta.files[name]) meta.files[name] = { sha256: sha(bytes), bytes: bytes.length };
  await writeFile(join(model, 'edgetune.json'), JSON.stringify(meta));
}

describe('the CLI and what the user owns', () => {
  let dir: string;
  let data: string;
  let model: string;
  const train = (out: string, ...extra: string[]) => runCli(['train', data, '--out', out, '--epochs', '2', '--augment', '0', '--seed', '1', ...extra]);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetune-safety-'));
    data = join(dir, 'data');
    await addClass(data, 'disc', 'disc', { train: 5, test: 2 });
    await addClass(data, 'stripes', 'stripes', { train: 5, test: 2 });
    model = join(dir, 'model');
    const r = await train(model);
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('refuses --out at a folder holding the user\'s files, the data, its parent or the model read, deleting nothing', async () => {
    const docs = join(dir, 'docs');
    await mkdir(docs);
    await writeFile(join(docs, 'thesis.txt'), 'mine');
    for (const out of [docs, data, dir, join(data, 'train')]) {
      const r = await train(out);
      assert.equal(r.code, 2, `${out}: ${r.stderr}`);
      assert.match(r.stderr, /INVALID_ARGUMENT: --out /);
    }
    assert.equal(await readFile(join(docs, 'thesis.txt'), 'utf8'), 'mine');
    assert.deepEqual((await readdir(join(data, 'train'))).sort(), ['disc', 'stripes']);
    for (const format of ['onnx', 'tflite', 'edgetune']) {
      const r = await runCli(['export', model, '--out', model, '--format', format]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /is the folder being read/);
    }
    for (const f of ['edgetune.json', 'model.json', 'weights.bin', 'report.html']) assert.ok(existsSync(join(model, f)), f);
  });

  it('replaces its own model folder whole, keeping the embedding cache, and an empty folder is fine', async () => {
    const out = join(dir, 'again');
    assert.equal((await train(out)).code, 0);
    const cached = (await readdir(join(out, 'cache'))).length;
    const r = await train(out);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await readdir(join(out, 'cache'))).length, cached);
    assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.edgetune-')), [], 'no staging folder left');
    const empty = join(dir, 'empty');
    await mkdir(empty);
    assert.equal((await train(empty)).code, 0);
  });

  it('a train that fails after writing cache entries removes its new --out, and one over an existing model keeps it', async () => {
    const late = join(dir, 'late');
    await addClass(late, 'disc', 'disc', { train: 20 });
    await addClass(late, 'stripes', 'stripes', { train: 20 });
    await writeFile(join(late, 'train', 'stripes', 'zz-broken.png'), (await png('stripes', 1)).subarray(0, 60));
    const out = join(dir, 'late-model');
    const r = await runCli(['train', late, '--out', out, '--strict', '--augment', '0']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /INVALID_IMAGE: .*zz-broken\.png/);
    assert.ok(!existsSync(out), 'the failed run left its folder (and cache) behind');
    const before = await readFile(join(model, 'weights.bin'));
    const over = await runCli(['train', late, '--out', model, '--strict', '--augment', '0']);
    assert.equal(over.code, 1, over.stderr);
    assert.deepEqual(await readFile(join(model, 'weights.bin')), before);
    assert.ok(existsSync(join(model, 'edgetune.json')));
  });

  it('--out a file, under a file or a dangling link: INVALID_ARGUMENT before any work, the link kept', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    const link = join(dir, 'dangling');
    await symlink(join(dir, 'nowhere'), link);
    for (const out of [file, join(file, 'model'), link, '/proc/edgetune-out']) {
      const r = await train(out);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^edgetune: INVALID_ARGUMENT: --out /m);
      assert.doesNotMatch(r.stderr, /backend/, 'refused before the backbone loads');
    }
    assert.ok((await lstat(link)).isSymbolicLink());
  });

  it('trains on byte-identical images (in one class and across classes) on a cold cache, and --no-cache writes none', async () => {
    const dup = join(dir, 'dup');
    await addClass(dup, 'disc', 'disc');
    await addClass(dup, 'stripes', 'stripes');
    await writeFile(join(dup, 'train', 'disc', 'copy.png'), await readFile(join(dup, 'train', 'disc', '0.png')));
    await writeFile(join(dup, 'train', 'stripes', 'copy.png'), await readFile(join(dup, 'train', 'disc', '0.png')));
    const r = await runCli(['train', dup, '--out', join(dir, 'dup-model'), '--epochs', '2', '--augment', '2']);
    assert.equal(r.code, 0, r.stderr);
    const none = await runCli(['train', dup, '--out', join(dir, 'nocache'), '--epochs', '2', '--no-cache']);
    assert.equal(none.code, 0, none.stderr);
    assert.ok(!existsSync(join(dir, 'nocache', 'cache')), '--no-cache wrote a cache');
  });

  it('a cache folder that cannot be written is a warning, not a failure; --cache-dir at a file is a usage error', async () => {
    const file = join(dir, 'cache-file');
    await writeFile(file, 'x');
    const r = await runCli(['predict', model, join(data, 'test', 'disc', '0.png'), '--cache-dir', file]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /INVALID_ARGUMENT: --cache-dir .*is a file/);
    // A model folder whose cache cannot be created (as a read-only folder would be; root writes anywhere, a file blocks it for all).
    const blocked = join(dir, 'blocked-model');
    execFileSync('cp', ['-r', model, blocked]);
    await rm(join(blocked, 'cache'), { recursive: true, force: true });
    await writeFile(join(blocked, 'cache'), 'a file where the cache folder would go');
    const ok = await runCli(['predict', blocked, join(data, 'test', 'stripes', '1.png')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /warning: the embedding cache .* cannot be written/);
  });

  it('--csv at a folder or in a missing folder: INVALID_ARGUMENT before predicting', async () => {
    for (const csv of [dir, join(dir, 'missing', 'out.csv')]) {
      const r = await runCli(['predict', model, join(data, 'test'), '--csv', csv]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /INVALID_ARGUMENT: --csv /);
      assert.doesNotMatch(r.stderr, /backend/);
    }
  });

  it('special files and folders that are not models are refused without being read', async () => {
    const fifo = join(dir, 'pipe.jpg');
    execFileSync('mkfifo', [fifo]);
    for (const input of ['/dev/zero', fifo]) {
      const r = await runCli(['predict', model, input]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /not a regular file/);
    }
    const big = join(dir, 'not-a-model');
    await mkdir(big);
    await writeFile(join(big, 'huge.bin'), Buffer.alloc(1));
    const r = await runCli(['predict', big, join(data, 'test', 'disc', '0.png')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /MODEL_LOAD_FAILED: .*no edgetune\.json/);
  });

  it('a crafted backbone whose files are devices or oversized is refused, not read', async () => {
    const bb = join(dir, 'crafted-bb');
    await mkdir(bb);
    await symlink('/dev/zero', join(bb, 'model.json'));
    const manifest = JSON.parse(await readFile(new URL('../../models/mobilenet_v2/manifest.json', import.meta.url), 'utf8'));
    await writeFile(join(bb, 'manifest.json'), JSON.stringify(manifest));
    const r = await runCli(['train', data, '--out', join(dir, 'bb-model'), '--backbone', join(bb, 'manifest.json')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /MODEL_LOAD_FAILED: .*not a regular file/);
  });

  it('a crafted head (a 300M-wide input) and non-finite weights are refused at load', async () => {
    const wide = join(dir, 'wide');
    execFileSync('cp', ['-r', model, wide]);
    const json = JSON.parse(await readFile(join(wide, 'model.json'), 'utf8'));
    const text = JSON.stringify(json).replace(/"batch_input_shape":\[null,\d+\]/, '"batch_input_shape":[null,300000000]');
    assert.notEqual(text, JSON.stringify(json), 'the head has an input shape to craft');
    await craft(wide, 'model.json', new TextEncoder().encode(text));
    const r = await runCli(['predict', wide, join(data, 'test', 'disc', '0.png')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /MODEL_INCOMPATIBLE: The head's input is 300000000 wide/);

    const nan = join(dir, 'nan');
    execFileSync('cp', ['-r', model, nan]);
    const weights = new Float32Array(new Uint8Array(await readFile(join(nan, 'weights.bin'))).buffer);
    weights[3] = Number.NaN;
    await craft(nan, 'weights.bin', new Uint8Array(weights.buffer));
    for (const args of [['predict', nan, join(data, 'test', 'disc', '0.png')], ['export', nan, '--out', join(dir, 'nan-onnx'), '--format', 'onnx'], ['train', data, '--out', join(dir, 'nan-from'), '--from', nan]]) {
      const p = await runCli(args);
      assert.equal(p.code, 1, p.stderr);
      assert.match(p.stderr, /MODEL_INTEGRITY: weights\.bin holds a value that is not a finite number/);
    }
    assert.ok(!existsSync(join(dir, 'nan-from')) && !existsSync(join(dir, 'nan-onnx')));
  });

  it('a model trained on the other bundled backbone is refused with MODEL_INCOMPATIBLE, naming both', async () => {
    const r = await runCli(['predict', model, join(data, 'test', 'disc', '0.png'), '--backbone', 'mobilenet_v2']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /MODEL_INCOMPATIBLE: Model was trained on backbone 'mobilenet_v2_140' .* but 'mobilenet_v2' .* is loaded/);
  });

  it('imported labels obey the training rules (control characters, duplicates, the reserved label)', async () => {
    for (const labels of [['disc', 'str\u001bipes'], ['disc', 'disc'], ['disc', '<unknown>'], ['disc', ' stripes']]) {
      const bad = join(dir, `labels-${sha(new TextEncoder().encode(labels.join())).slice(0, 6)}`);
      execFileSync('cp', ['-r', model, bad]);
      const meta = JSON.parse(await readFile(join(bad, 'edgetune.json'), 'utf8'));
      await writeFile(join(bad, 'edgetune.json'), JSON.stringify({ ...meta, labels }));
      const r = await runCli(['predict', bad, join(data, 'test', 'disc', '0.png')]);
      assert.equal(r.code, 1, `${JSON.stringify(labels)}: ${r.stderr}`);
      assert.match(r.stderr, /MODEL_LOAD_FAILED: edgetune\.json: label/);
    }
  });

  it('class names a spreadsheet would run, or a terminal or a page would show reversed, are neutralised', async () => {
    const odd = join(dir, 'odd');
    await addClass(odd, '=HYPERLINK("x")', 'disc', { train: 5, test: 2 });
    await addClass(odd, 'ab\u202ecd', 'stripes', { train: 5, test: 2 });
    await writeFile(join(odd, 'test', 'ab\u202ecd', 'es\u001b[31mc.png'), await png('stripes', 7));
    const out = join(dir, 'odd-model');
    const r = await runCli(['train', odd, '--out', out, '--epochs', '3', '--augment', '0']);
    assert.equal(r.code, 0, r.stderr);
    const csv = await readFile(join(out, 'predictions.csv'), 'utf8');
    assert.ok(!/(^|,)"?[=+\-@]/m.test(csv), `no cell starts a formula:\n${csv}`);
    assert.match(csv, /'=HYPERLINK/);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    assert.match(html, /<bdi>ab\[U\+202E\]cd<\/bdi>/);
    const p = await runCli(['predict', out, join(odd, 'test')]);
    assert.equal(p.code, 0, p.stderr);
    assert.ok(!p.stdout.includes('\u001b') && !p.stdout.includes('\u202e'), JSON.stringify(p.stdout));
    assert.match(p.stdout, /es\\u001b\[31mc\.png/);
  });

  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) {
    it(`${signal} during train removes the new --out folder (cache included) and ends the process by that signal`, async () => {
      const out = join(dir, `killed-${signal}`);
      const child = spawn(process.execPath, [fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url)), 'train', data, '--out', out, '--augment', '16', '--runtime', 'tfjs', '--threads', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })));
      // The first cache entries on disk: the run is embedding, with files of its own in --out.
      const deadline = Date.now() + 60_000;
      while (!existsSync(join(out, 'cache')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(join(out, 'cache')), `the run started writing its cache:\n${stderr}`);
      child.kill(signal);
      const end = await exited;
      assert.equal(end.signal, signal, `exit ${end.code}:\n${stderr}`);
      assert.ok(!existsSync(out), `${out} was left behind`);
    });
  }

  it('finds a test class missing from train/ and --epochs 0 before reading any image', async () => {
    const skew = join(dir, 'skew');
    await addClass(skew, 'disc', 'disc', { train: 4 });
    await addClass(skew, 'stripes', 'stripes', { train: 4 });
    await addClass(skew, 'checker', 'checker', { test: 2 });
    const r = await runCli(['train', skew, '--out', join(dir, 'skew-model')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /INVALID_DATASET: .*test has classes that train\/ lacks: checker/);
    assert.doesNotMatch(r.stderr, /backend/);
    const zero = await runCli(['train', data, '--out', join(dir, 'zero-epochs'), '--epochs', '0']);
    assert.equal(zero.code, 2, zero.stderr);
    assert.doesNotMatch(zero.stderr, /backend/);
    assert.ok(!existsSync(join(dir, 'skew-model')) && !existsSync(join(dir, 'zero-epochs')));
  });

  it('follows symlinked class folders, refuses names that differ by spaces, and names a non-UTF-8 class folder', async () => {
    const linked = join(dir, 'linked');
    await mkdir(linked);
    await symlink(join(data, 'train', 'disc'), join(linked, 'disc'));
    await symlink(join(data, 'train', 'stripes'), join(linked, 'stripes'));
    const r = await runCli(['train', linked, '--out', join(dir, 'linked-model'), '--epochs', '2']);
    assert.equal(r.code, 0, r.stderr);
    const spaced = join(dir, 'spaced');
    await addClass(spaced, 'birds', 'disc');
    await addClass(spaced, 'birds ', 'stripes');
    const s = await runCli(['train', join(spaced, 'train'), '--out', join(dir, 'spaced-model')]);
    assert.equal(s.code, 1, s.stderr);
    assert.match(s.stderr, /INVALID_DATASET: .*differ only by surrounding spaces/);
    const latin = join(dir, 'latin');
    await addClass(latin, 'disc', 'disc');
    await mkdir(Buffer.from(join(latin, 'train', 'caf\xe9'), 'latin1'));
    const l = await runCli(['train', join(latin, 'train'), '--out', join(dir, 'latin-model')]);
    assert.equal(l.code, 1, l.stderr);
    assert.match(l.stderr, /INVALID_DATASET: .*'caf\\xe9' is not valid UTF-8/);
  });
});
