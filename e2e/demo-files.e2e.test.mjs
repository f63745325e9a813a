// The demo with image files, through its UI as a person uses it: a class added
// by name and filled with "Add files…", a flat class/image folder dropped (a real
// drag-and-drop of a directory, through Chromium's input pipeline), a
// train|val|test folder picked, rename and delete, training (head, then a short
// partial), prediction on a dropped file, both evaluations, export, reload,
// import into a fresh browser profile, reset. Real photos from the shared
// datasets when they are there; generated images always.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { buildDemo } from '../scripts/build-demo.mjs';
import { serve } from '../scripts/serve.mjs';
import { generatedImageFolder, realImageFolder } from './fixtures.mjs';
import { ARTIFACTS, ROOT, axe, launch } from './harness.mjs';

const VIEWPORTS = { desktop: { width: 1280, height: 800 }, mobile: { width: 360, height: 740 } };

/** The demo's UI steps, with a screenshot after each. */
class DemoPage {
  constructor(page, shots) {
    this.page = page;
    this.shots = shots;
    this.step = 0;
  }

  async shot(name) {
    this.step++;
    await this.page.screenshot({ path: join(ARTIFACTS, `${this.shots}-${String(this.step).padStart(2, '0')}-${name}.png`), fullPage: true });
  }

  /** What the screen shows with `selector` scrolled to the top (a phone's view, not the whole page). */
  async view(name, selector) {
    await this.page.locator(selector).evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await this.page.screenshot({ path: join(ARTIFACTS, `${this.shots}-view-${name}.png`) });
  }

  status = () => this.page.locator('#status').textContent();

  async waitStatus(pattern, timeout = 60_000) {
    await this.page.waitForFunction((re) => new RegExp(re).test(document.getElementById('status').textContent), pattern.source, { timeout });
    return this.status();
  }

  classes = () => this.page.locator('li.class').evaluateAll((ls) => ls.map((l) => [l.dataset.label, parseInt(l.querySelector('.count').textContent, 10)]));

  /** A real drop of files or folders from disk onto `selector` (Chromium's drag pipeline, as from a file manager). */
  async dropPaths(selector, paths) {
    const el = this.page.locator(selector);
    await el.scrollIntoViewIfNeeded();
    const box = await el.boundingBox();
    const cdp = await this.page.context().newCDPSession(this.page);
    const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    const data = { items: [], files: paths, dragOperationsMask: 1 };
    for (const type of ['dragEnter', 'dragOver', 'drop']) await cdp.send('Input.dispatchDragEvent', { type, ...at, data });
    await cdp.detach();
  }

  async train(strategy, epochs, partialEpochs) {
    await this.page.selectOption('#strategy', strategy);
    await this.page.fill('#epochs', String(epochs));
    if (partialEpochs) await this.page.fill('#partial-epochs', String(partialEpochs));
    await this.page.click('#train');
    await this.page.waitForSelector('body[data-phase="training"]', { timeout: 10_000 }).catch(() => undefined);
    await this.page.waitForSelector('body[data-phase="trained"]', { timeout: 240_000 });
    const text = await this.page.locator('#train-status').textContent();
    // Every example the class cards show is counted, split into train and validation.
    const [, total, train, val] = text.match(/^Trained \d+ classes on (\d+) examples \((\d+) train, (\d+) validation\)/) ?? assert.fail(text);
    const shown = (await this.page.locator('#classes .count').allTextContents()).reduce((a, t) => a + parseInt(t, 10), 0);
    assert.equal(Number(total), shown, text);
    assert.equal(Number(train) + Number(val), Number(total), text);
    return text;
  }

  /** axe-core on the page as it is now: no rule violation (`state` names it in the failure). */
  axe = (state) => axe(this.page, state);

  /** Top-1 of the "drop an image" panel for one file, through its picker. */
  async predictFile(path) {
    await this.page.locator('#file-prediction').evaluate((e) => e.replaceChildren());
    await this.page.setInputFiles('#predict-input', path);
    await this.page.waitForSelector('#file-prediction .bar.top', { timeout: 30_000 });
    return this.page.locator('#file-prediction .bar.top').getAttribute('data-label');
  }

  /** The evaluation table's accuracy and image count. */
  async evaluation() {
    await this.page.waitForSelector('#evaluation caption', { timeout: 60_000 });
    const caption = await this.page.locator('#evaluation caption').textContent();
    const m = /accuracy ([\d.]+)% on (\d+) images/.exec(caption);
    assert.ok(m, caption);
    return { accuracy: Number(m[1]) / 100, n: Number(m[2]), caption };
  }

  /** "What it got wrong": the count it states, and its thumbnails (decoded widths). */
  async mistakes() {
    await this.page.waitForSelector('#evaluation .mistakes h3', { timeout: 60_000 });
    const heading = await this.page.locator('#evaluation .mistakes h3').textContent();
    const m = /\((\d+) of (\d+)\)/.exec(heading);
    assert.ok(m, heading);
    await this.page.waitForFunction(() => [...document.querySelectorAll('#evaluation .mistake img')].every((i) => i.complete));
    const widths = await this.page.locator('#evaluation .mistake img').evaluateAll((imgs) => imgs.map((i) => i.naturalWidth));
    return { wrong: Number(m[1]), of: Number(m[2]), widths };
  }
}

async function openDemo(context, url, viewport, shots) {
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-phase="ready"], body[data-phase="trained"]', { timeout: 90_000 });
  return { demo: new DemoPage(page, shots), errors };
}

/**
 * The journey over one ImageFolder `data` (train/val/test, three classes A, B,
 * C plus spare images for a throw-away class), at one viewport.
 */
async function journey(server, data, viewportName, { full = false } = {}) {
  const viewport = VIEWPORTS[viewportName];
  const shots = `files-${data.kind}-${viewportName}`;
  const work = mkdtempSync(join(tmpdir(), 'edgetune-journey-'));
  const [a, b, c] = data.classes;
  // What a person would have on disk: a flat class/image folder for B and a throw-away class, and the split folder.
  const flat = join(work, 'more-photos');
  cpSync(join(data.root, 'train', b), join(flat, b), { recursive: true });
  cpSync(data.spare, join(flat, 'misc'), { recursive: true });
  // One file in the folder is not a picture at all: it is reported, the others are added.
  writeFileSync(join(flat, b, 'notes.jpg'), 'a text file with a .jpg name\n');
  const split = join(work, 'dataset');
  for (const s of ['val', 'test']) cpSync(join(data.root, s), join(split, s), { recursive: true });
  cpSync(join(data.root, 'train', c), join(split, 'train', c), { recursive: true });
  const files = (dir) => readdirSync(dir).sort().map((f) => join(dir, f));

  const context = await launch();
  try {
    const { demo, errors } = await openDemo(context, `${server.url}/`, viewport, shots);
    const { page } = demo;
    await demo.shot('start');

    // A class by name, filled with "Add files…".
    await page.fill('#new-class', a);
    await page.click('#add-class button[type=submit]');
    await page.setInputFiles(`li.class[data-label="${a}"] input.files`, files(join(data.root, 'train', a)));
    assert.match(await demo.waitStatus(new RegExp(`Added \\d+ images? to '${a}'`)), new RegExp(`Added ${data.counts.train[a]} images`));
    await demo.shot('add-files');

    // A flat class/image folder dropped onto the drop zone.
    await demo.dropPaths('#drop', [flat]);
    const dropped = await demo.waitStatus(/Added \d+ images in 2 classes/);
    assert.match(dropped, /skipped 1 unreadable file: notes\.jpg: not a readable image/);
    await demo.shot('drop-folder');

    // A train/val/test folder through the folder picker: val pinned to validation, test left for evaluation.
    await page.setInputFiles('#folder-input', split);
    const added = await demo.waitStatus(/Added \d+ images in 3 classes \(\d+ test images left/);
    assert.match(added, new RegExp(`\\(${data.counts.testTotal} test images left`));
    await demo.shot('pick-split-folder');
    await demo.axe('with classes');
    const expectedCount = (l) => data.counts.train[l] + data.counts.val[l];
    assert.deepEqual(Object.fromEntries(await demo.classes()), {
      [a]: expectedCount(a),
      [b]: expectedCount(b),
      [c]: expectedCount(c),
      misc: readdirSync(data.spare).length,
    });

    // Rename the throw-away class, then delete it.
    await page.fill('li.class[data-label="misc"] input.rename', 'throwaway');
    await page.locator('li.class[data-label="misc"] input.rename').press('Enter');
    await demo.waitStatus(/Renamed 'misc' to 'throwaway'/);
    assert.ok((await demo.classes()).some(([l, n]) => l === 'throwaway' && n === readdirSync(data.spare).length));
    await demo.shot('rename');
    await page.click('li.class[data-label="throwaway"] button.delete');
    await page.waitForFunction(() => !document.querySelector('li.class[data-label="throwaway"]'));
    assert.deepEqual((await demo.classes()).map(([l]) => l).sort(), [a, b, c].sort());
    await demo.shot('delete');

    await checkData(demo, data, expectedCount, work);

    // Train the head; the charts fill.
    await demo.train('head', 20);
    assert.ok(Number(await page.locator('#chart-loss').getAttribute('data-points')) >= 2);
    await demo.shot('trained-head');
    await demo.axe('trained');

    // Predict a dropped file.
    // A training photo of class a: the model has seen it, so it must name a (a test photo may be a fair mistake).
    const probe = files(join(data.root, 'train', a))[0];
    await demo.dropPaths('#predict-drop', [probe]);
    await page.waitForSelector('#file-prediction .bar.top', { timeout: 30_000 });
    assert.equal(await page.locator('#file-prediction .bar.top').getAttribute('data-label'), a);
    await demo.shot('predict-drop');

    // Evaluate on the examples (seen in training: high) and on the folder's test split.
    await page.click('#evaluate');
    const own = await demo.evaluation();
    assert.equal(own.n, data.counts.trainTotal + data.counts.valTotal);
    assert.ok(own.accuracy >= 0.6, own.caption);
    await demo.shot('evaluate-examples');
    await demo.axe('evaluation shown');

    // A short full fine-tune (every layer, on WASM) from the selector, then a short partial one,
    // and the folder evaluation of the model that gets exported.
    if (full) {
      await page.selectOption('#strategy', 'full');
      assert.match(await page.locator('#strategy-summary').textContent(), /every backbone layer/);
      assert.equal(await page.inputValue('#partial-epochs'), '6', "the selector shows full's default backbone epochs");
      const text = await demo.train('full', 10, 1);
      assert.match(text, /^Trained \d+ classes/);
      await demo.shot('trained-full');
    }
    await demo.train('partial', 20, 3);
    await demo.shot('trained-partial');
    await page.locator('#evaluation').evaluate((e) => e.replaceChildren());
    await page.setInputFiles('#eval-input', split);
    const folderEval = await demo.evaluation();
    assert.equal(folderEval.n, data.counts.testTotal, 'the test split, as edgetune eval scores it');
    const wrong = await demo.mistakes();
    assert.equal(wrong.of, folderEval.n);
    assert.equal(wrong.wrong, Math.round(folderEval.n * (1 - folderEval.accuracy)), 'as many thumbnails as the accuracy leaves wrong');
    assert.equal(wrong.widths.length, Math.min(wrong.wrong, 48));
    // Generated data holds one mislabelled test image; stamps-dev's test accuracy leaves mistakes too.
    assert.ok(wrong.widths.length >= 1, 'the mistakes panel shows the misclassified images');
    assert.ok(wrong.widths.every((w) => w > 0), 'every thumbnail decodes');
    await demo.shot('evaluate-folder');
    // What the README shows of a phone (scripts/screenshots.mjs): the classes, and a prediction with the mistakes.
    if (viewportName === 'mobile') {
      await demo.view('classes', '#classes-panel');
      await demo.view('results', '#eval-panel');
    }

    // Export: the files download.
    const exported = join(work, 'exported');
    mkdirSync(exported);
    const downloads = [];
    const onDownload = (d) => downloads.push(d.saveAs(join(exported, d.suggestedFilename())));
    page.on('download', onDownload);
    await page.click('#export');
    await demo.waitStatus(/^Exported \d+ files/);
    await page.waitForTimeout(500);
    await Promise.all(downloads);
    const names = readdirSync(exported).sort();
    for (const f of ['edgetune.json', 'model.json', 'weights.bin']) assert.ok(names.includes(f), names.join(', '));
    await demo.shot('export');

    // The TFLite choice downloads model.tflite, labels.json and the model card (LiteRT.js runs such files in tflite-web.e2e).
    const tflite = join(work, 'tflite');
    mkdirSync(tflite);
    const tfliteDownloads = [];
    const onTflite = (d) => tfliteDownloads.push(d.saveAs(join(tflite, d.suggestedFilename())));
    page.off('download', onDownload);
    page.on('download', onTflite);
    // int8, calibrated in the worker on the examples the page added.
    await page.selectOption('#export-format', 'tflite');
    await page.check('#export-int8');
    await page.click('#export');
    await demo.waitStatus(/^Exported 3 files: model\.tflite, labels\.json, README\.md/);
    await page.waitForTimeout(500);
    await Promise.all(tfliteDownloads);
    page.off('download', onTflite);
    assert.deepEqual(readdirSync(tflite).sort(), ['README.md', 'labels.json', 'model.tflite']);
    assert.equal(readFileSync(join(tflite, 'model.tflite')).subarray(4, 8).toString('latin1'), 'TFL3');
    assert.deepEqual(JSON.parse(readFileSync(join(tflite, 'labels.json'), 'utf8')).sort(), [a, b, c].sort());
    assert.match(readFileSync(join(tflite, 'model.tflite')).toString('latin1'), /"quantization":"int8/, 'the int8 choice reached the worker');
    await page.selectOption('#export-format', 'edgetune');
    assert.equal(await page.isDisabled('#export-int8'), true, 'int8 is off for the edgetune format');

    // The same folder through `edgetune eval` on the exported model agrees within 5 points.
    const cli = await evalWithCli(exported, split);
    assert.equal(cli.n, folderEval.n);
    assert.ok(Math.abs(cli.accuracy - folderEval.accuracy) <= 0.05, `demo ${folderEval.accuracy} vs edgetune eval ${cli.accuracy}`);

    // Top-1 here, on the test files, before the reload and in a fresh profile.
    const probes = [a, b, c].flatMap((l) => files(join(data.root, 'test', l)).slice(0, 2));
    const here = [];
    for (const p of probes) here.push(await demo.predictFile(p));

    // Reload: classes, examples and the model come back.
    await page.reload();
    await page.waitForSelector('body[data-phase="trained"]', { timeout: 90_000 });
    assert.match(await demo.status(), /Restored 3 classes, \d+ examples and the trained model/);
    assert.deepEqual(Object.fromEntries(await demo.classes()), { [a]: expectedCount(a), [b]: expectedCount(b), [c]: expectedCount(c) });
    await demo.shot('reloaded');
    const restored = [];
    for (const p of probes) restored.push(await demo.predictFile(p));
    assert.deepEqual(restored, here, 'the restored model answers as before');

    // Import into a fresh browser profile: identical top-1.
    const fresh = await launch();
    try {
      const other = await openDemo(fresh, `${server.url}/`, viewport, `${shots}-fresh`);
      await other.demo.page.setInputFiles('#import-input', names.map((n) => join(exported, n)));
      await other.demo.waitStatus(/^Imported a model with classes/);
      const imported = [];
      for (const p of probes) imported.push(await other.demo.predictFile(p));
      await other.demo.shot('imported');
      assert.deepEqual(imported, here, 'the imported model answers as the exporting one');
      assert.deepEqual(other.errors, []);
    } finally {
      await fresh.close();
    }

    // Photos nobody labelled yet, ranked for labelling; the first goes to class a from the list.
    const spare = files(data.spare);
    await page.setInputFiles('#pool-input', spare);
    await demo.waitStatus(new RegExp(`^Ranked ${spare.length} photos`));
    const ranked = page.locator('#data-report .label-next figure');
    assert.equal(await ranked.count(), Math.min(spare.length, 24));
    const captions = await ranked.locator('figcaption').allTextContents();
    const shown = captions.map((t) => /^(.*)margin ([\d.]+)$/.exec(t) ?? assert.fail(t));
    const spareNames = new Set(spare.map((f) => basename(f)));
    assert.ok(shown.every(([, n]) => spareNames.has(n)) && new Set(shown.map(([, n]) => n)).size === shown.length, `each ranked photo once, by its file name: ${captions}`);
    const margins = shown.map(([, , m]) => Number(m));
    // The least sure first (later ones may wait behind an almost identical photo already ranked).
    assert.equal(margins[0], Math.min(...margins), `the least sure first: ${margins}`);
    await ranked.first().locator('select').selectOption(a);
    await ranked.first().getByRole('button', { name: /^Add/ }).click();
    await demo.waitStatus(new RegExp(`^Added .+ to '${a}'`));
    assert.equal(Object.fromEntries(await demo.classes())[a], expectedCount(a) + 1);
    await demo.shot('ranked-pool');

    // Reset: everything is gone, after a confirmation.
    page.once('dialog', (d) => void d.accept());
    await page.click('#reset');
    await page.waitForLoadState('load');
    await page.waitForSelector('body[data-phase="ready"]', { timeout: 90_000 });
    assert.deepEqual(await demo.classes(), []);
    await demo.shot('reset');
    if (viewportName === 'mobile') assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= viewport.width);
    assert.deepEqual(errors, []);
    return { folderEval, cli };
  } finally {
    await context.close();
    if (!process.env.EDGETUNE_KEEP) rmSync(work, { recursive: true, force: true });
    else console.log(`# kept ${work}`);
  }
}

/**
 * "Check your data" on planted mistakes: a photo of b filed under c and a black
 * frame. The panel flags both; "Move to b" and "Remove" fix them; the moved
 * photo is then a copy of one b already has, and "Keep one" removes it. The
 * classes end as they started.
 */
async function checkData(demo, data, expectedCount, work) {
  const { page } = demo;
  const [, b, c] = data.classes;
  const count = async (l) => Object.fromEntries(await demo.classes())[l];
  const black = join(work, 'black.png');
  await sharp({ create: { width: 224, height: 224, channels: 3, background: '#000' } }).png().toFile(black);
  const misfiled = readdirSync(join(data.root, 'train', b)).sort()[0];
  await page.setInputFiles(`li.class[data-label="${c}"] input.files`, [join(data.root, 'train', b, misfiled), black]);
  await demo.waitStatus(new RegExp(`Added 2 images to '${c}'`));

  await page.click('#check-data');
  await demo.waitStatus(/^Checked \d+ examples/);
  await page.waitForSelector('#data-report .summary');
  await demo.shot('check-data');
  await demo.axe('data checked');
  const flagged = page.locator('#data-report .label-issues figure', { hasText: `filed as ${c}, looks like ${b}` });
  assert.ok((await flagged.count()) >= 1, `the ${b} photo filed under ${c} is flagged: ${await page.locator('#data-report').innerText()}`);
  await flagged.first().getByRole('button', { name: `Move to ${b}` }).click();
  await demo.waitStatus(new RegExp(`Moved to '${b}': 1 example`));
  assert.equal(await count(b), expectedCount(b) + 1);
  assert.equal(await count(c), expectedCount(c) + 1);

  // The black frame is the most unusual image, and "Remove" takes it out.
  const odd = page.locator('#data-report .outliers figure').first();
  const darkness = await odd.locator('img').evaluate(async (img) => {
    await img.decode();
    const g = new OffscreenCanvas(8, 8).getContext('2d');
    g.drawImage(img, 0, 0, 8, 8);
    const d = g.getImageData(0, 0, 8, 8).data;
    return d.reduce((a, v, i) => (i % 4 === 3 ? a : a + v), 0) / (8 * 8 * 3);
  });
  assert.ok(darkness < 10, `the first unusual image is the black frame (mean ${darkness})`);
  await odd.getByRole('button', { name: /^Remove/ }).click();
  await demo.waitStatus(/^Removed 1 example/);
  assert.equal(await count(c), expectedCount(c));

  // Checked again: the moved photo and its original are the same file.
  await page.click('#check-data');
  await demo.waitStatus(/^Checked \d+ examples/);
  const copies = page.locator('#data-report .duplicates figure', { hasText: '2 × the same file' });
  await copies.first().waitFor({ timeout: 60_000 });
  await copies.first().getByRole('button', { name: /^Keep one/ }).click();
  await demo.waitStatus(/^Removed 1 example/);
  for (const l of data.classes) assert.equal(await count(l), expectedCount(l), `${l} as it started`);
  await demo.shot('data-fixed');
}

/** `edgetune eval` from the built package, in this process. */
async function evalWithCli(model, data) {
  const { main } = await import('../dist/cli/main.js');
  let stdout = '';
  let stderr = '';
  const code = await main(['eval', model, data, '--json', '--no-cache'], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), isTTY: false });
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout);
}

describe('demo PWA with image files (Chromium)', () => {
  let server;
  let generated;
  let real = realImageFolder.available();

  before(async () => {
    await buildDemo({ quiet: true });
    server = await serve(join(ROOT, 'demo/dist'), { index: 'index.html' });
    generated = await generatedImageFolder();
    if (!real.skip) real = realImageFolder();
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(() => {
    server?.close();
    if (!process.env.EDGETUNE_KEEP) for (const d of [generated, real]) if (d?.root) rmSync(d.root, { recursive: true, force: true });
  });

  it('generated images, 1280x800: every file path through the UI', async () => {
    const r = await journey(server, generated, 'desktop', { full: true });
    console.log(`# [demo-files] generated: demo ${r.folderEval.accuracy} vs edgetune eval ${r.cli.accuracy} on ${r.cli.n} test images`);
  });

  for (const viewport of Object.keys(VIEWPORTS)) {
    it(`real photos (${real.skip ? 'absent' : real.name}), ${VIEWPORTS[viewport].width}x${VIEWPORTS[viewport].height}: every file path through the UI`, { skip: real.skip }, async () => {
      const r = await journey(server, real, viewport);
      console.log(`# [demo-files] ${real.name} ${viewport}: demo ${r.folderEval.accuracy} vs edgetune eval ${r.cli.accuracy} on ${r.cli.n} test images`);
    });
  }
});
