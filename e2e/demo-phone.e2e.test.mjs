// The demo on a phone, as a thumb uses it: a touch screen at 360x740 and
// 390x844, the fake camera, two classes captured (a tap for one frame, a hold
// for more) with the preview docked in view of the capture button, training,
// live prediction and an evaluation; axe-core in every state, screen-reader
// announcements at a pace a listener can follow, a screenshot of each step.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildDemo } from '../scripts/build-demo.mjs';
import { serve } from '../scripts/serve.mjs';
import { cameraFlags, expectLivePrediction, waitForPhaseStart, writeY4m } from './fake-camera.mjs';
import { ARTIFACTS, ROOT, axe, launch } from './harness.mjs';

const PHONES = [
  { width: 360, height: 740 },
  { width: 390, height: 844 },
];

/** Both boxes wholly on screen, and the button the topmost thing at its centre (not under the docked preview). */
async function previewAndButtonInView(page, button, viewport) {
  const video = await page.locator('#video').boundingBox();
  const box = await button.boundingBox();
  const inView = (b) => b && b.y >= 0 && b.y + b.height <= viewport.height && b.x >= 0 && b.x + b.width <= viewport.width;
  assert.ok(inView(video), `the camera preview is on screen: ${JSON.stringify(video)}`);
  assert.ok(inView(box), `the capture button is on screen: ${JSON.stringify(box)}`);
  const onTop = await button.evaluate((b) => {
    const r = b.getBoundingClientRect();
    return b.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
  });
  assert.ok(onTop, 'the capture button is not covered by the docked preview');
  return box;
}

const count = async (page, label) => parseInt(await page.locator(`li.class[data-label="${label}"] .count`).textContent(), 10);

/** A finger held on the button (touch events through Chromium's input pipeline) while `during` runs. */
async function hold(page, box, during) {
  const cdp = await page.context().newCDPSession(page);
  const point = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [point] });
  try {
    return await during();
  } finally {
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    await cdp.detach();
  }
}

/** Waits until the card of `label` counts more than `n` (frames arrive at the camera's pace, slower on a loaded machine). */
const countAbove = (page, label, n) =>
  page.waitForFunction(([l, k]) => parseInt(document.querySelector(`li.class[data-label="${l}"] .count`).textContent, 10) > k, [label, n], { timeout: 15_000 });

async function phoneJourney(server, camera, viewport) {
  const size = `${viewport.width}x${viewport.height}`;
  let step = 0;
  const context = await launch(cameraFlags(camera), { viewport, hasTouch: true, isMobile: true });
  try {
    await context.grantPermissions(['camera'], { origin: server.url });
    const page = await context.newPage();
    const shot = (name) => page.screenshot({ path: join(ARTIFACTS, `phone-${size}-${String(++step).padStart(2, '0')}-${name}.png`) });
    // Every announcement the screen reader would hear, with its time.
    await page.addInitScript(() => {
      window.__said = [];
      addEventListener('DOMContentLoaded', () => {
        const region = document.getElementById('announce');
        new MutationObserver(() => window.__said.push([performance.now(), region.textContent])).observe(region, { childList: true, characterData: true, subtree: true });
      });
    });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/`);
    await page.waitForSelector('body[data-phase="ready"]', { timeout: 90_000 });
    assert.equal(await page.evaluate(() => matchMedia('(pointer: coarse)').matches), true, 'a touch screen');
    // The first screen speaks of photos, not folders.
    assert.equal(await page.isVisible('#drop'), false, 'no folder drop zone on a touch screen');
    assert.match(await page.locator('#status').textContent(), /add photos/);
    assert.match(await page.locator('#predict-drop').innerText(), /^Choose a photo to classify$/);
    await shot('empty');
    await axe(page, `empty, ${size}`);

    for (const name of ['red', 'blue']) {
      await page.fill('#new-class', name);
      await page.locator('#add-class button[type=submit]').tap();
      await page.waitForSelector(`li.class[data-label="${name}"]`);
    }
    // "Add photos" opens the library or the camera: images, several at once.
    const picker = page.locator('li.class[data-label="red"] input.files');
    assert.equal(await picker.getAttribute('accept'), 'image/*');
    assert.equal(await picker.evaluate((i) => i.multiple), true);
    assert.match(await page.locator('li.class[data-label="red"] label.button').innerText(), /Add photos/);

    await page.locator('#camera-start').tap();
    await page.waitForFunction(() => document.getElementById('video').readyState >= 2);
    assert.ok(await page.evaluate(() => document.body.classList.contains('camera-on')));
    await shot('camera-on');

    for (const label of ['red', 'blue']) {
      const button = page.locator(`li.class[data-label="${label}"] button.capture`);
      await button.scrollIntoViewIfNeeded();
      const box = await previewAndButtonInView(page, button, viewport);
      await waitForPhaseStart(page, label);
      // A tap: exactly one frame.
      const before = await count(page, label);
      await page.touchscreen.tap(box.x + box.width / 2, box.y + box.height / 2);
      await page.waitForFunction(([l, n]) => parseInt(document.querySelector(`li.class[data-label="${l}"] .count`).textContent, 10) === n, [label, before + 1], { timeout: 5_000 });
      await page.waitForTimeout(400);
      assert.equal(await count(page, label), before + 1, 'a tap takes one frame');
      // A hold: frames keep coming, the count grows on the card and on the preview, both in view.
      const midway = await hold(page, box, async () => {
        await countAbove(page, label, before + 1);
        await previewAndButtonInView(page, button, viewport);
        const badge = await page.locator('#capture-badge').textContent();
        await shot(`capturing-${label}`);
        const n = await count(page, label);
        await countAbove(page, label, n);
        return { n, badge };
      });
      assert.match(midway.badge, new RegExp(`${label}: \\d+`), 'the preview says which class is capturing');
      await page.waitForFunction(() => document.getElementById('capture-badge').hidden);
      const after = await count(page, label);
      assert.ok(midway.n > before + 1 && after > midway.n, `the count grows while held: ${before + 1} -> ${midway.n} -> ${after}`);
    }
    await axe(page, `with classes, camera on, ${size}`);

    await page.fill('#epochs', '15');
    await page.fill('#augment', '1');
    await page.locator('#train').scrollIntoViewIfNeeded();
    await page.locator('#train').tap();
    await page.waitForFunction(() => Number(document.getElementById('chart-loss').dataset.points) >= 2 && document.body.dataset.phase === 'training', null, { timeout: 90_000 });
    await shot('training');
    await axe(page, `training, ${size}`);
    await page.waitForSelector('body[data-phase="trained"]', { timeout: 120_000 });
    // The charts in words: best validation epoch and accuracy.
    assert.match(await page.locator('#chart-summary').textContent(), /^\d+ epochs: training loss [\d.]+, training accuracy \d+%; best validation accuracy \d+% at epoch \d+/);
    await page.locator('.charts').scrollIntoViewIfNeeded();
    await shot('trained');
    await axe(page, `trained, ${size}`);

    await page.evaluate(() => scrollTo(0, 0));
    await expectLivePrediction(page, 'red');
    await expectLivePrediction(page, 'blue');
    await shot('live-prediction');

    await page.locator('#evaluate').scrollIntoViewIfNeeded();
    await page.locator('#evaluate').tap();
    await page.waitForSelector('#evaluation caption', { timeout: 60_000 });
    await page.locator('#evaluation').scrollIntoViewIfNeeded();
    await shot('evaluation');
    await axe(page, `evaluation shown, ${size}`);
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= viewport.width, 'nothing wider than the phone');

    // Announcements: training progress and the final result were said, live predictions changed answers and
    // were said, none of the throttled channels faster than every 3 s apart.
    const said = await page.evaluate(() => window.__said.filter(([, t]) => t));
    const texts = said.map(([, t]) => t);
    assert.ok(texts.some((t) => /^Epoch \d+\/\d+/.test(t)), 'training progress is announced');
    assert.ok(texts.some((t) => /^Trained 2 classes/.test(t)), 'the result is announced');
    assert.ok(texts.some((t) => /^The camera shows (red|blue)/.test(t)), 'live predictions are announced');
    const predictionTimes = said.filter(([, t]) => t.startsWith('The camera shows')).map(([at]) => at);
    for (let i = 1; i < predictionTimes.length; i++) assert.ok(predictionTimes[i] - predictionTimes[i - 1] >= 2900, `live predictions said at most every 3 s: ${predictionTimes}`);
    const epochs = said.filter(([, t]) => /^Epoch/.test(t)).length;
    console.log(`# [phone ${size}] ${said.length} announcements (${epochs} about epochs, ${predictionTimes.length} about the camera)`);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
}

describe('the demo on a phone (touch, fake camera)', () => {
  let server;
  let dir;
  before(async () => {
    await buildDemo({ quiet: true });
    server = await serve(join(ROOT, 'demo/dist'), { index: 'index.html' });
    dir = mkdtempSync(join(tmpdir(), 'edgetune-phone-'));
    writeY4m(join(dir, 'camera.y4m'));
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('switch camera: the other camera, and back', async () => {
    // Two generated fake cameras (a file camera is only one).
    const context = await launch(['--use-fake-device-for-media-stream=device-count=2', '--use-fake-ui-for-media-stream'], { viewport: PHONES[0], hasTouch: true, isMobile: true });
    try {
      await context.grantPermissions(['camera'], { origin: server.url });
      const page = await context.newPage();
      await page.goto(`${server.url}/`);
      await page.waitForSelector('body[data-phase="ready"]', { timeout: 90_000 });
      const device = () => page.evaluate(() => document.getElementById('video').srcObject?.getVideoTracks()[0]?.getSettings().deviceId);
      const switched = (from) => page.waitForFunction((d) => {
        const id = document.getElementById('video').srcObject?.getVideoTracks()[0]?.getSettings().deviceId;
        return id && id !== d && document.getElementById('video').readyState >= 2;
      }, from);
      const playing = () => page.waitForFunction(() => document.getElementById('video').readyState >= 2);
      await page.locator('#camera-start').tap();
      await playing();
      await page.waitForFunction(() => !document.getElementById('camera-switch').disabled);
      const first = await device();
      await page.locator('#camera-switch').tap();
      await switched(first);
      const second = await device();
      assert.ok(second && second !== first, `another camera: ${first} -> ${second}`);
      await page.locator('#camera-switch').tap();
      await switched(second);
      assert.equal(await device(), first, 'and back');
    } finally {
      await context.close();
    }
  });

  for (const viewport of PHONES) {
    it(`${viewport.width}x${viewport.height}: two classes from the camera without leaving the preview, train, predict, evaluate`, async () => {
      await phoneJourney(server, join(dir, 'camera.y4m'), viewport);
    });
  }
});
