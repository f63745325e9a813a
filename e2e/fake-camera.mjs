// Chromium's fake camera for the demo's e2e tests: a Y4M file alternating two
// patterns, and helpers that act in step with what the camera shows.
import { writeFileSync } from 'node:fs';

/** Chromium flags that make `file` the camera (and allow it without a prompt). */
export const cameraFlags = (file) => ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${file}`];

const PHASE_FRAMES = 30; // 3 s of each pattern at 10 fps

/**
 * A Y4M video alternating two patterns every 3 s: red horizontal stripes, then
 * a blue checkerboard. Chromium loops it as the fake camera.
 */
export function writeY4m(path, w = 320, h = 240) {
  const frame = (kind) => {
    const y = Buffer.alloc(w * h);
    const u = Buffer.alloc((w / 2) * (h / 2));
    const v = Buffer.alloc((w / 2) * (h / 2));
    // BT.601: red ~ (81, 90, 240), blue ~ (41, 240, 110), white (235, 128, 128).
    const [fg, bg] = kind === 'red' ? [[81, 90, 240], [235, 128, 128]] : [[41, 240, 110], [235, 128, 128]];
    const on = (px, py) => (kind === 'red' ? Math.floor(py / 20) % 2 === 0 : (Math.floor(px / 40) + Math.floor(py / 40)) % 2 === 0);
    for (let py = 0; py < h; py++) for (let px = 0; px < w; px++) y[py * w + px] = (on(px, py) ? fg : bg)[0];
    for (let py = 0; py < h / 2; py++) {
      for (let px = 0; px < w / 2; px++) {
        const c = on(px * 2, py * 2) ? fg : bg;
        u[py * (w / 2) + px] = c[1];
        v[py * (w / 2) + px] = c[2];
      }
    }
    return Buffer.concat([Buffer.from('FRAME\n'), y, u, v]);
  };
  const red = frame('red');
  const blue = frame('blue');
  const frames = [...Array(PHASE_FRAMES).fill(red), ...Array(PHASE_FRAMES).fill(blue)];
  writeFileSync(path, Buffer.concat([Buffer.from(`YUV4MPEG2 W${w} H${h} F10:1 Ip A1:1 C420jpeg\n`), ...frames]));
}

/** Which pattern the camera shows now, from the video's pixels. */
export const cameraShows = (page) =>
  page.evaluate(() => {
    const v = document.getElementById('video');
    const c = new OffscreenCanvas(32, 24);
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 32, 24);
    const d = g.getImageData(0, 0, 32, 24).data;
    let r = 0;
    let b = 0;
    for (let i = 0; i < d.length; i += 4) [r, b] = [r + d[i], b + d[i + 2]];
    return r > b * 1.3 ? 'red' : b > r * 1.3 ? 'blue' : 'unclear';
  });

/** Waits for the start of a `pattern` phase (a change into it), so a 3 s window is ahead. */
export async function waitForPhaseStart(page, pattern) {
  const deadline = Date.now() + 20_000;
  let previous = await cameraShows(page);
  while (Date.now() < deadline) {
    await page.waitForTimeout(50);
    const now = await cameraShows(page);
    if (now === pattern && previous !== pattern) return;
    previous = now;
  }
  throw new Error(`the fake camera never switched to ${pattern}`);
}

export async function capture(page, label, ms) {
  await waitForPhaseStart(page, label);
  const button = page.locator(`li.class[data-label="${label}"] button.capture`);
  await button.hover();
  await page.mouse.down();
  await page.waitForTimeout(ms);
  await page.mouse.up();
}

/** Waits until the live prediction shows `label` while the camera shows it. */
export async function expectLivePrediction(page, label) {
  await waitForPhaseStart(page, label);
  await page.waitForTimeout(800);
  await page.waitForFunction((l) => document.getElementById('prediction').dataset.top === l, label, { timeout: 5_000 });
}

