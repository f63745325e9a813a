// The real demo PWA in Chromium with a fake camera: two classes captured from
// camera frames, training with live charts, live prediction, restore after a
// reload from IndexedDB, and an offline reload served by the service worker.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildDemo } from '../scripts/build-demo.mjs';
import { serve } from '../scripts/serve.mjs';
import { cameraFlags, capture, expectLivePrediction, writeY4m } from './fake-camera.mjs';
import { ARTIFACTS, ROOT, axe, launch } from './harness.mjs';

describe('demo PWA in Chromium (fake camera)', () => {
  let server;
  let dir;

  before(async () => {
    await buildDemo({ quiet: true });
    server = await serve(join(ROOT, 'demo/dist'), { index: 'index.html' });
    dir = mkdtempSync(join(tmpdir(), 'edgetune-demo-'));
    writeY4m(join(dir, 'camera.y4m'));
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(() => server?.close());

  it('captures two classes from the camera, trains with live charts, predicts, restores after reload, works offline', async () => {
    const context = await launch(cameraFlags(join(dir, 'camera.y4m')));
    try {
      await context.grantPermissions(['camera'], { origin: server.url });
      const page = await context.newPage();
      await page.setViewportSize({ width: 1280, height: 900 });
      // Long tasks on the main thread, from the first script on.
      await page.addInitScript(() => {
        window.__longTasks = [];
        new PerformanceObserver((l) => l.getEntries().forEach((e) => window.__longTasks.push(e.duration))).observe({ type: 'longtask' });
      });
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${server.url}/`);
      await page.waitForSelector('body[data-phase="ready"]', { timeout: 90_000 });
      const backend = await page.locator('#backend').getAttribute('data-backend');
      console.log(`# [demo] backend ${backend}: ${await page.locator('#backend').getAttribute('title')}`);
      assert.equal(backend, 'wasm');

      // PWA: manifest fields and an activated service worker.
      const manifest = await (await page.request.get(`${server.url}/manifest.webmanifest`)).json();
      assert.equal(manifest.display, 'standalone');
      assert.ok(manifest.name && manifest.short_name && manifest.start_url);
      assert.ok(manifest.icons.some((i) => i.sizes === '512x512') && manifest.icons.some((i) => i.sizes === '192x192'));
      assert.equal(await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.state), 'activated');
      // Chromium's own install criteria (what makes it offer "Install app"): no error.
      const cdp = await context.newCDPSession(page);
      const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
      assert.deepEqual(installabilityErrors, [], 'Chromium would offer to install the demo');
      await cdp.detach();

      for (const name of ['red', 'blue']) {
        await page.fill('#new-class', name);
        await page.click('#add-class button[type=submit]');
      }
      await page.click('#camera-start');
      await page.waitForFunction(() => document.getElementById('video').readyState >= 2);
      // 2.5 s of the 3 s phase: a slow first call on a busy machine still leaves room for 4 frames at 5 fps.
      await capture(page, 'red', 2500);
      await capture(page, 'blue', 2500);
      const counts = await page.locator('li.class .count').allTextContents();
      console.log(`# [demo] captured: ${counts.join(', ')}`);
      for (const c of counts) assert.ok(parseInt(c, 10) >= 4, `at least 4 frames per class at 5 fps: ${c}`);
      // Instant feedback: before any training, live predictions come from class prototypes.
      await page.waitForSelector('#prediction[data-basis="prototypes"] .bar', { timeout: 30_000 });

      await page.fill('#epochs', '15');
      await page.fill('#augment', '1');
      const longBefore = await page.evaluate(() => window.__longTasks.length);
      await page.click('#train');
      // Live charts: the loss chart gains points while training runs.
      await page.waitForFunction(() => Number(document.getElementById('chart-loss').dataset.points) >= 2 && document.body.dataset.phase === 'training', null, { timeout: 90_000 });
      await axe(page, 'training, desktop');
      await page.waitForSelector('body[data-phase="trained"]', { timeout: 120_000 });
      const trainLongTasks = await page.evaluate((n) => window.__longTasks.slice(n), longBefore);
      console.log(`# [demo] long tasks while training: ${JSON.stringify(trainLongTasks)}`);
      assert.ok(trainLongTasks.every((d) => d <= 50), `no main-thread long task over 50 ms while training: ${trainLongTasks}`);
      assert.ok(Number(await page.locator('#chart-acc').getAttribute('data-points')) >= 2);

      await expectLivePrediction(page, 'red');
      await expectLivePrediction(page, 'blue');
      assert.equal(await page.locator('#prediction').getAttribute('data-basis'), 'model');
      await page.screenshot({ path: join(ARTIFACTS, 'demo-desktop.png'), fullPage: true });
      await page.setViewportSize({ width: 360, height: 740 });
      await page.screenshot({ path: join(ARTIFACTS, 'demo-mobile.png') });
      // Mobile layout: nothing wider than the viewport.
      assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 360);

      // Reload: classes, examples and the model come back from IndexedDB.
      await page.reload();
      await page.waitForSelector('body[data-phase="trained"]', { timeout: 90_000 });
      assert.deepEqual(await page.locator('li.class').evaluateAll((els) => els.map((e) => e.dataset.label)), ['red', 'blue']);
      assert.deepEqual(await page.locator('li.class .count').allTextContents(), counts);
      assert.ok(await page.evaluate(() => navigator.serviceWorker.controller !== null), 'the reloaded page is controlled by the service worker');

      // Offline: the service worker serves the shell, the SDK, the wasm and the backbone.
      await context.setOffline(true);
      await page.reload();
      await page.waitForSelector('body[data-phase="trained"]', { timeout: 90_000 });
      await page.click('#camera-start');
      await expectLivePrediction(page, 'red');
      await expectLivePrediction(page, 'blue');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
