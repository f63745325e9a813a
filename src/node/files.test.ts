// Model folders and image files on disk, read with bounds and written by contract:
// the unit-level view of what the CLI's safety suite checks through the command.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isEdgetuneError } from '../errors.js';
import { fileSource, IMAGE_MAX_BYTES, MODEL_FILE_MAX_BYTES, readBoundedFile, readModelDir, writeModelDir } from './files.js';
import { checkOutputDir, EDGETUNE_NAMES } from './output-dir.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const code = (c: string, re?: RegExp) => (e: unknown) => isEdgetuneError(e, c as never) && (!re || re.test((e as Error).message));

describe('model folders and files on disk', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetune-files-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('readBoundedFile reads a regular file whole, refuses one over the bound, a FIFO and a missing file with the given code', async () => {
    const f = join(dir, 'ten.bin');
    await writeFile(f, '0123456789');
    assert.equal(dec(await readBoundedFile(f, 10, 'thing')), '0123456789');
    await assert.rejects(readBoundedFile(f, 9, 'thing', 'INVALID_IMAGE'), code('INVALID_IMAGE', /thing .*ten\.bin: 10 bytes, over the 9-byte limit/));
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(readBoundedFile(fifo, 100, 'thing'), code('MODEL_LOAD_FAILED', /not a regular file/));
    await assert.rejects(readBoundedFile('/dev/zero', 100, 'thing'), code('MODEL_LOAD_FAILED', /not a regular file/));
    await assert.rejects(readBoundedFile(join(dir, 'nope'), 100, 'thing', 'INVALID_IMAGE'), code('INVALID_IMAGE', /nope: cannot read/));
  });

  it('fileSource hashes the bytes (sha256) and refuses an empty file', async () => {
    const f = join(dir, 'img.png');
    await writeFile(f, 'not really a png');
    const src = await fileSource(f);
    assert.equal(src.hash, createHash('sha256').update('not really a png').digest('hex'));
    assert.equal(src.name, f);
    await writeFile(join(dir, 'empty.png'), '');
    await assert.rejects(fileSource(join(dir, 'empty.png')), code('INVALID_IMAGE', /empty file/));
  });

  it('writes nested names posix-style and reads them back, skipping cache/ and the training reports', async () => {
    const m = join(dir, 'model');
    await writeModelDir(m, { 'edgetune.json': enc('{}'), 'merged/model.json': enc('m'), 'report.html': enc('r'), 'history.csv': enc('h'), 'predictions.csv': enc('p') });
    await mkdir(join(m, 'cache'));
    await writeFile(join(m, 'cache', 'k.h16'), 'c');
    const files = await readModelDir(m);
    assert.deepEqual(Object.keys(files).sort(), ['edgetune.json', 'merged/model.json']);
    assert.equal(dec(files['merged/model.json']), 'm');
  });

  it('replacing a model drops the files the new one lacks, keeps cache/, and writes each given file', async () => {
    const m = join(dir, 'replace');
    await writeModelDir(m, { 'edgetune.json': enc('v1'), 'tail.bin': enc('t') });
    await mkdir(join(m, 'cache'));
    await writeFile(join(m, 'cache', 'k.h16'), 'c');
    await writeModelDir(m, { 'edgetune.json': enc('v2'), 'weights.bin': enc('w') });
    assert.deepEqual((await readdir(m)).sort(), ['cache', 'edgetune.json', 'weights.bin']);
    assert.equal(await readFile(join(m, 'edgetune.json'), 'utf8'), 'v2');
    assert.equal(await readFile(join(m, 'cache', 'k.h16'), 'utf8'), 'c');
  });

  it('refuses file names that would leave the folder or are malformed, writing nothing', async () => {
    for (const name of ['/abs', 'a/../b', '../x', './x', 'a//b', 'a\\b', '', 'merged/']) {
      const m = join(dir, `bad-${createHash('md5').update(name).digest('hex').slice(0, 8)}`);
      await assert.rejects(writeModelDir(m, { [name]: enc('x') }), code('INVALID_ARGUMENT', /Refusing model file name/), JSON.stringify(name));
      assert.ok(!existsSync(m), JSON.stringify(name));
    }
  });

  it('readModelDir: a missing folder, a file and a folder without edgetune.json are MODEL_LOAD_FAILED, before other files are read', async () => {
    await assert.rejects(readModelDir(join(dir, 'missing')), code('MODEL_LOAD_FAILED', /no such folder/));
    await writeFile(join(dir, 'a-file'), 'x');
    await assert.rejects(readModelDir(join(dir, 'a-file')), code('MODEL_LOAD_FAILED', /not a folder/));
    const other = join(dir, 'other');
    await mkdir(other);
    execFileSync('mkfifo', [join(other, 'would-hang.bin')]);
    await assert.rejects(readModelDir(other), code('MODEL_LOAD_FAILED', /no edgetune\.json/));
    await writeFile(join(other, 'edgetune.json'), '{}');
    await assert.rejects(readModelDir(other), code('MODEL_LOAD_FAILED', /would-hang\.bin: not a regular file/));
  });

  it('holds each documented bound: sparse files one byte over are refused by their size, before any read', async () => {
    // Sparse: a file of hundreds of MB that takes no disk and is never read.
    const sparse = async (path: string, size: number) => (await writeFile(path, ''), await truncate(path, size));
    const big = join(dir, 'big.jpg');
    await sparse(big, IMAGE_MAX_BYTES + 1);
    await assert.rejects(fileSource(big), code('INVALID_IMAGE', new RegExp(`image .*big\\.jpg: ${IMAGE_MAX_BYTES + 1} bytes, over the ${IMAGE_MAX_BYTES}-byte limit`)));
    assert.equal(IMAGE_MAX_BYTES, 256 * 2 ** 20);
    const m = join(dir, 'bounded');
    await mkdir(m);
    await sparse(join(m, 'edgetune.json'), 4 * 2 ** 20 + 1);
    await assert.rejects(readModelDir(m), code('MODEL_LOAD_FAILED', /model metadata .*edgetune\.json: 4194305 bytes, over the 4194304-byte limit/));
    await writeFile(join(m, 'edgetune.json'), '{"x":1}');
    // The bound is on the folder's total: edgetune.json's 7 bytes count against it.
    await sparse(join(m, 'weights.bin'), MODEL_FILE_MAX_BYTES - 6);
    await assert.rejects(readModelDir(m), code('MODEL_LOAD_FAILED', new RegExp(`model file .*weights\\.bin: ${MODEL_FILE_MAX_BYTES - 6} bytes, over the ${MODEL_FILE_MAX_BYTES - 7}-byte limit`)));
    assert.equal(MODEL_FILE_MAX_BYTES, 512 * 2 ** 20);
    await rm(join(m, 'weights.bin'));
    await writeFile(join(m, 'a.bin'), 'abc');
    await mkdir(join(m, 'sub'));
    await writeFile(join(m, 'sub', 'b.bin'), 'de');
    const files = await readModelDir(m);
    assert.deepEqual(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, dec(v)])), { 'edgetune.json': '{"x":1}', 'a.bin': 'abc', 'sub/b.bin': 'de' });
  });

  it('readModelDir reads exactly 64 files (edgetune.json among them) but not 65', async () => {
    const edge = join(dir, 'edge');
    await mkdir(edge);
    await writeFile(join(edge, 'edgetune.json'), '{}');
    for (let i = 0; i < 63; i++) await writeFile(join(edge, `f${i}.bin`), 'x');
    assert.equal(Object.keys(await readModelDir(edge)).length, 64);
    await writeFile(join(edge, 'f63.bin'), 'x');
    await assert.rejects(readModelDir(edge), code('MODEL_LOAD_FAILED', /more than 64 files/));
  });

  it('readModelDir refuses a folder with more files than a model has', async () => {
    const many = join(dir, 'many');
    await mkdir(many);
    await writeFile(join(many, 'edgetune.json'), '{}');
    for (let i = 0; i < 70; i++) await writeFile(join(many, `f${i}.bin`), 'x');
    await assert.rejects(readModelDir(many), code('MODEL_LOAD_FAILED', /more than 64 files/));
  });

  describe('checkOutputDir', () => {
    it('accepts a new folder, an empty one and one holding only names edgetune writes', async () => {
      await checkOutputDir(join(dir, 'brand-new'), '--out');
      await mkdir(join(dir, 'empty'));
      await checkOutputDir(join(dir, 'empty'), '--out');
      const own = join(dir, 'own');
      await mkdir(own);
      for (const n of EDGETUNE_NAMES) await writeFile(join(own, n), 'x');
      await checkOutputDir(own, '--out');
      assert.deepEqual([...EDGETUNE_NAMES].sort(), ['cache', 'edgetune.json', 'history.csv', 'labels.json', 'merged', 'model.json', 'model.onnx', 'model.tflite', 'predictions.csv', 'prototypes.bin', 'report.html', 'tail.bin', 'weights.bin']);
      assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.edgetune-')), [], 'the write probe leaves nothing');
    });

    it('names at most three foreign files and counts the rest', async () => {
      const f = join(dir, 'foreign');
      await mkdir(f);
      for (const n of ['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt']) await writeFile(join(f, n), 'x');
      await assert.rejects(checkOutputDir(f, '--out'), code('INVALID_ARGUMENT', /\(a\.txt, b\.txt, c\.txt, and 2 more\)/));
      await rm(join(f, 'd.txt'));
      await rm(join(f, 'e.txt'));
      await assert.rejects(checkOutputDir(f, '--out'), code('INVALID_ARGUMENT', /\(a\.txt, b\.txt, c\.txt\);/));
    });

    it('refuses the protected folder, a folder around it or inside it, a file, a link, and a missing or non-folder parent', async () => {
      const data = join(dir, 'data');
      await mkdir(join(data, 'train'), { recursive: true });
      await assert.rejects(checkOutputDir(data, '--out', [data]), code('INVALID_ARGUMENT', /is the folder being read/));
      await assert.rejects(checkOutputDir(dir, '--out', [data]), code('INVALID_ARGUMENT', /holds .*data, which is being read/));
      await assert.rejects(checkOutputDir(join(data, 'train', 'm'), '--out', [data]), code('INVALID_ARGUMENT', /is inside .*data, which is being read/));
      // A sibling whose name starts like the protected folder is not inside it.
      await checkOutputDir(join(dir, 'data-model'), '--out', [data]);
      await writeFile(join(dir, 'plain'), 'x');
      await assert.rejects(checkOutputDir(join(dir, 'plain'), '--opt'), code('INVALID_ARGUMENT', /^--opt .*plain: is a file/));
      await assert.rejects(checkOutputDir(join(dir, 'plain', 'x'), '--out'), code('INVALID_ARGUMENT', /cannot be inspected/));
      await symlink(join(dir, 'empty'), join(dir, 'link'));
      await assert.rejects(checkOutputDir(join(dir, 'link'), '--out'), code('INVALID_ARGUMENT', /symbolic link/));
      await assert.rejects(checkOutputDir(join(dir, 'no', 'such', 'm'), '--out'), code('INVALID_ARGUMENT', /parent folder .* does not exist/));
      await assert.rejects(checkOutputDir('/proc/edgetune-probe', '--out'), code('INVALID_ARGUMENT', /cannot create folders in \/proc/));
    });
  });
});
