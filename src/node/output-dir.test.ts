// Model folders are replaced whole or not at all: a failed write keeps the old
// model, and a run killed at any moment of the swap is finished or undone by the next.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isEdgetuneError } from '../errors.js';
import { readModelDir, writeModelDir } from './files.js';
import { checkOutputDir, recoverOutputDir } from './output-dir.js';

const enc = (s: string) => new TextEncoder().encode(s);
/** A pid no process has (above Linux's pid_max). */
const DEAD = 4_194_305;

describe('model folders: replaced atomically, recovered after a kill', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetune-outdir-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function model(name: string, version: string): Promise<string> {
    const m = join(dir, name);
    await writeModelDir(m, { 'edgetune.json': enc(version), 'weights.bin': enc(`w${version}`) });
    return m;
  }

  it('a write that fails midway keeps the previous model and its cache, and leaves no staging folder', async () => {
    const m = await model('fails', 'v1');
    await mkdir(join(m, 'cache'));
    await writeFile(join(m, 'cache', 'k.h16'), 'cached');
    // The second file's name is refused after the first was staged.
    await assert.rejects(writeModelDir(m, { 'edgetune.json': enc('v2'), '../escape': enc('x') }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT'));
    assert.equal(await readFile(join(m, 'edgetune.json'), 'utf8'), 'v1');
    assert.equal(await readFile(join(m, 'cache', 'k.h16'), 'utf8'), 'cached');
    assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.edgetune-')), []);
  });

  it('killed between the two renames (no folder, a ready one and the old one): the next run takes the new model', async () => {
    const m = join(dir, 'forward');
    await mkdir(join(dir, `.forward.edgetune-ready-${DEAD}`, 'cache'), { recursive: true });
    await writeFile(join(dir, `.forward.edgetune-ready-${DEAD}`, 'edgetune.json'), 'v2');
    await mkdir(join(dir, `.forward.edgetune-old-${DEAD}`));
    await writeFile(join(dir, `.forward.edgetune-old-${DEAD}`, 'edgetune.json'), 'v1');
    const files = await readModelDir(m);
    assert.equal(new TextDecoder().decode(files['edgetune.json']), 'v2');
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.forward')), []);
  });

  it('killed while staging (the old folder in place, a half-written one beside it): the old model stays, the leftover goes', async () => {
    const m = await model('back', 'v1');
    await mkdir(join(dir, `.back.edgetune-new-${DEAD}`));
    await writeFile(join(dir, `.back.edgetune-new-${DEAD}`, 'edgetune.json'), 'half');
    await recoverOutputDir(m);
    assert.equal(await readFile(join(m, 'edgetune.json'), 'utf8'), 'v1');
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.back')), []);
  });

  it('killed after moving the cache into the ready folder: the cache goes back to the model in place', async () => {
    const m = await model('cachemove', 'v1');
    const ready = join(dir, `.cachemove.edgetune-ready-${DEAD}`);
    await mkdir(join(ready, 'cache'), { recursive: true });
    await writeFile(join(ready, 'cache', 'k.h16'), 'cached');
    await recoverOutputDir(m);
    assert.equal(await readFile(join(m, 'cache', 'k.h16'), 'utf8'), 'cached');
    assert.ok(!existsSync(ready));
  });

  it('killed after moving the old folder aside but before the new one was ready: the old model comes back', async () => {
    const m = join(dir, 'rollback');
    await mkdir(join(dir, `.rollback.edgetune-old-${DEAD}`));
    await writeFile(join(dir, `.rollback.edgetune-old-${DEAD}`, 'edgetune.json'), 'v1');
    await mkdir(join(dir, `.rollback.edgetune-new-${DEAD}`));
    await recoverOutputDir(m);
    assert.equal(await readFile(join(m, 'edgetune.json'), 'utf8'), 'v1');
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.rollback')), []);
  });

  it("touches only its own folder's leftovers, not another folder's or a look-alike name", async () => {
    const m = await model('mine', 'v1');
    const others = [`.mine2.edgetune-new-${DEAD}`, `.mine.edgetune-new-${DEAD}.bak`, `x.mine.edgetune-old-${DEAD}`, `.mine.edgetune-other-${DEAD}`];
    for (const o of others) await mkdir(join(dir, o));
    await recoverOutputDir(m);
    for (const o of others) assert.ok(existsSync(join(dir, o)), o);
    for (const o of others) await rm(join(dir, o), { recursive: true });
  });

  it("leaves a live run's staging folder alone", async () => {
    const m = await model('live', 'v1');
    const mine = join(dir, `.live.edgetune-new-${process.pid}`);
    await mkdir(mine);
    await recoverOutputDir(m);
    assert.ok(existsSync(mine));
    await rm(mine, { recursive: true });
  });

  it('checkOutputDir refuses a folder with a file edgetune did not write, naming it', async () => {
    const m = await model('foreign', 'v1');
    await writeFile(join(m, 'notes.txt'), 'mine');
    await assert.rejects(checkOutputDir(m, '--out'), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT') && /notes\.txt/.test((e as Error).message));
    await assert.rejects(writeModelDir(m, { 'edgetune.json': enc('v2') }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT'));
    assert.equal(await readFile(join(m, 'notes.txt'), 'utf8'), 'mine');
  });

  it("checkOutputDir takes a model card for edgetune's only beside a model: a folder holding just a README.md stays the user's", async () => {
    const m = await model('carded', 'v1');
    await writeFile(join(m, 'README.md'), 'card');
    await checkOutputDir(m, '--out');
    const theirs = join(dir, 'project');
    await mkdir(theirs);
    await writeFile(join(theirs, 'README.md'), 'my project');
    await assert.rejects(checkOutputDir(theirs, '--out'), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT') && /README\.md/.test((e as Error).message));
    assert.equal(await readFile(join(theirs, 'README.md'), 'utf8'), 'my project');
  });
});
