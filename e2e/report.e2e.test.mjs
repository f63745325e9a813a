// What `edgetune train` leaves beside the model, as a person opens it:
// report.html in Chromium (curves, confusion matrix, the misclassified test
// images, no network request), history.csv and predictions.csv. On stamps-dev
// from the shared datasets when present; on generated images always.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { generatedImageFolder } from './fixtures.mjs';
import { ARTIFACTS, ROOT, launch } from './harness.mjs';

const STAMPS = join(resolve(process.env.EDGETUNE_DATA ?? join(ROOT, '..', 'shared', 'datasets')), 'stamps-dev');

/** Rows of a CSV without quoted commas (what these files hold), header first. */
const csv = (path) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(','));

async function checkRun(data, shot) {
  const out = join(mkdtempSync(join(tmpdir(), 'edgetune-report-')), 'model');
  try {
    const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'train', data, '--out', out, '--seed', '1', '--quiet'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['report.html', 'history.csv', 'predictions.csv']) assert.ok(existsSync(join(out, f)), `${f} written`);

    const history = csv(join(out, 'history.csv'));
    assert.deepEqual(history[0], ['stage', 'epoch', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'learning_rate', 'ms']);
    assert.ok(history.some((row) => row[0] === 'select') && history.some((row) => row[0] === 'refit'), 'both stages in history.csv');
    const predictions = csv(join(out, 'predictions.csv'));
    assert.deepEqual(predictions[0].slice(0, 4), ['path', 'true_label', 'predicted_label', 'probability']);
    const wrong = predictions.slice(1).filter((row) => row[1] !== row[2]).length;

    const context = await launch();
    try {
      const page = await context.newPage();
      const requests = [];
      page.on('request', (req) => requests.push(req.url()));
      const url = pathToFileURL(join(out, 'report.html')).href;
      await page.goto(url);
      await page.setViewportSize({ width: 1100, height: 900 });
      const found = await page.evaluate(() => ({
        charts: document.querySelectorAll('#curves svg.chart polyline').length,
        selected: document.querySelectorAll('#curves .selected-epoch').length,
        confusionRows: document.querySelectorAll('#confusion tr').length,
        thumbnails: [...document.querySelectorAll('#wrong figure img')].map((img) => img.naturalWidth),
        text: document.body.innerText,
      }));
      assert.ok(found.charts >= 4, `curves drawn (${found.charts} lines)`);
      assert.ok(found.selected >= 1, 'the selected epoch is marked');
      const labels = new Set(predictions.slice(1).map((row) => row[1]));
      assert.equal(found.confusionRows, labels.size + 1, 'a confusion matrix row per class');
      assert.equal(found.thumbnails.length, Math.min(wrong, 60), 'one thumbnail per misclassified test image');
      assert.ok(wrong === 0 || found.thumbnails.length > 0, 'mistakes are shown');
      assert.ok(found.thumbnails.every((w) => w === 112), 'every thumbnail decodes');
      assert.match(found.text, /Test accuracy/);
      assert.deepEqual(requests.filter((u) => u !== url && !u.startsWith('data:')), [], 'no network request');
      await page.screenshot({ path: join(ARTIFACTS, `report-${shot}.png`), fullPage: true });
      return { wrong };
    } finally {
      await context.close();
    }
  } finally {
    rmSync(join(out, '..'), { recursive: true, force: true });
  }
}

describe('edgetune train: report.html, history.csv, predictions.csv', () => {
  it('on stamps-dev: curves, confusion matrix and the misclassified test images, offline', async (t) => {
    if (!existsSync(STAMPS)) return t.skip(`no dataset at ${STAMPS}: set EDGETUNE_DATA to the folder holding stamps-dev`);
    const { wrong } = await checkRun(STAMPS, 'stamps-dev');
    // stamps-dev's test accuracy is about 0.7: there are mistakes to show.
    assert.ok(wrong > 0, 'some test images misclassified');
  });

  it('on generated images (always runs)', async () => {
    const folder = await generatedImageFolder();
    try {
      const { wrong } = await checkRun(folder.root, 'generated');
      // The fixture files a stripes picture under test/disc: at least that one is shown as a mistake.
      assert.ok(wrong >= 1, 'the mislabelled test image is misclassified');
    } finally {
      rmSync(folder.root, { recursive: true, force: true });
    }
  });
});
