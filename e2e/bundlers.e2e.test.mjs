// edgetune in the apps people build: the examples in docs/examples (Vite 8, its
// production build and its dev server, with and without a config file; webpack 5),
// each with the packed tarball installed, and a bundler-free page importing
// dist/index.js from a static host under a sub-path, as a CDN user would. Each is opened in Chromium, trains two
// classes from photo files through its own UI and predicts both right.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { ARTIFACTS, ROOT, launch } from './harness.mjs';
import { serve } from '../scripts/serve.mjs';

const BIN = join(ROOT, 'node_modules', '.bin');
/** Inside the repository, so an app resolves vite, webpack and edgetune's own dependencies from its node_modules. */
const APPS = join(ROOT, '.cache', 'apps');

/** A 160x120 photo-like PNG: a red disc or blue stripes on a noisy light background. */
async function photo(kind, seed) {
  const [w, h] = [160, 120];
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const on = kind === 'disc' ? (x - 80 - (seed % 9)) ** 2 + (y - 60) ** 2 < 40 ** 2 : Math.floor((y + seed) / 10) % 2 === 0;
      const n = ((x * 13 + y * 7 + seed * 31) % 29) - 14;
      const px = on ? (kind === 'disc' ? [215, 40, 40] : [40, 60, 210]) : [225, 225, 215];
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, px[c] + n));
    }
  return sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

/** Unpacks the tarball as npm installs it: node_modules/edgetune inside the app. */
function installTarball(app, tarball) {
  const pkg = join(app, 'node_modules', 'edgetune');
  mkdirSync(pkg, { recursive: true });
  execFileSync('tar', ['xzf', tarball, '-C', pkg, '--strip-components=1']);
}

/** Copies an example app and installs the packed edgetune into it. */
function exampleApp(name, tarball) {
  const app = join(APPS, name);
  rmSync(app, { recursive: true, force: true });
  cpSync(join(ROOT, 'docs', 'examples', name), app, { recursive: true });
  installTarball(app, tarball);
  return app;
}

/** Runs a command in `cwd` until it exits; rejects with its output on failure. */
function run(cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

/** Starts a long-running server command and resolves with its URL once it prints one. */
function startServer(cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const onData = (d) => {
      out += d;
      const m = /http:\/\/(?:127\.0\.0\.1|localhost):\d+\/?[\w/-]*/.exec(out.replace(/\x1b\[[0-9;]*m/g, ''));
      if (m) resolve({ url: m[0].replace('localhost', '127.0.0.1').replace(/\/?$/, '/'), close: () => process.kill(-p.pid) });
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('close', (code) => reject(new Error(`${cmd} exited ${code} before serving:\n${out}`)));
  });
}

/** Drives an example app as a person does: photos into both classes, Train, then a photo of each class. */
async function trainAndPredict(url, shot) {
  const context = await launch();
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => /^(Ready|[A-Z_]{4,}: )/.test(document.getElementById('status').textContent), null, { timeout: 120_000 });
    const ready = await page.textContent('#status');
    assert.match(ready, /^Ready \((wasm|webgpu|cpu)\)/, ready);
    const file = async (kind, seed) => ({ name: `${kind}-${seed}.png`, mimeType: 'image/png', buffer: await photo(kind, seed) });
    await page.fill('#name-a', 'disc');
    await page.fill('#name-b', 'stripes');
    await page.setInputFiles('#files-a', await Promise.all([1, 2, 3, 4, 5, 6].map((s) => file('disc', s))));
    await page.setInputFiles('#files-b', await Promise.all([1, 2, 3, 4, 5, 6].map((s) => file('stripes', s))));
    await page.click('#train');
    await page.waitForFunction(() => /^(Trained|[A-Z_]{4,}: )/.test(document.getElementById('status').textContent), null, { timeout: 180_000 });
    assert.match(await page.textContent('#status'), /^Trained disc and stripes/);
    const answers = {};
    for (const kind of ['disc', 'stripes']) {
      await page.evaluate(() => (document.getElementById('result').textContent = ''));
      await page.setInputFiles('#predict', [await file(kind, 40)]);
      await page.waitForFunction(() => document.getElementById('result').textContent !== '', null, { timeout: 60_000 });
      answers[kind] = (await page.textContent('#result')).split(' ')[0];
    }
    await page.screenshot({ path: join(ARTIFACTS, `bundlers-${shot}.png`), fullPage: true });
    assert.deepEqual(errors, []);
    assert.deepEqual(answers, { disc: 'disc', stripes: 'stripes' });
    const origin = new URL(url).origin;
    const elsewhere = requests.filter((u) => /^https?:/.test(u) && !u.startsWith(origin));
    assert.deepEqual(elsewhere, [], 'no request leaves the app');
    return requests;
  } finally {
    await context.close();
  }
}

describe('edgetune in apps built by bundlers, from the packed tarball', () => {
  let tarball;
  let packDir;

  before(() => {
    packDir = mkdtempSync(join(tmpdir(), 'edgetune-bundlers-'));
    // dist/ is already built by the test runner; pack it as npm would publish it.
    execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', packDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    tarball = join(packDir, readdirSync(packDir).find((f) => f.endsWith('.tgz')));
  });
  after(() => rmSync(packDir, { recursive: true, force: true }));

  it('Vite 8: vite build + vite preview, no configuration beyond the example', async () => {
    const app = exampleApp('vite', tarball);
    await run(join(BIN, 'vite'), ['build'], app);
    const assets = readdirSync(join(app, 'dist', 'assets'));
    assert.ok(assets.some((f) => f.startsWith('worker') && f.endsWith('.js')), `the worker is part of the build: ${assets}`);
    assert.ok(assets.some((f) => f.endsWith('.wasm')), `the .wasm files are emitted: ${assets}`);
    const server = await startServer(join(BIN, 'vite'), ['preview', '--host', '127.0.0.1', '--port', '0', '--strictPort', 'false'], app);
    try {
      await trainAndPredict(server.url, 'vite-build');
    } finally {
      server.close();
    }
  });

  for (const [what, config] of [["with the example's cross-origin isolation", true], ['with no configuration at all', false]]) {
    it(`Vite 8: the dev server, ${what}`, async () => {
      const app = exampleApp('vite', tarball);
      if (!config) rmSync(join(app, 'vite.config.js'));
      const server = await startServer(join(BIN, 'vite'), ['--host', '127.0.0.1', '--port', '0'], app);
      try {
        await trainAndPredict(server.url, config ? 'vite-dev' : 'vite-dev-no-config');
      } finally {
        server.close();
      }
    });
  }

  it('webpack 5: a production build served with COOP/COEP', async () => {
    const app = exampleApp('webpack', tarball);
    await run(join(BIN, 'webpack'), ['--config', 'webpack.config.js'], app);
    cpSync(join(app, 'index.html'), join(app, 'dist', 'index.html'));
    const server = await serve(join(app, 'dist'));
    try {
      await trainAndPredict(`${server.url}/index.html`, 'webpack');
    } finally {
      await server.close();
    }
  });

  it('no bundler: dist/index.js imported from a static host under a sub-path', async () => {
    const site = join(APPS, 'static');
    rmSync(site, { recursive: true, force: true });
    installTarball(join(site, 'cdn', 'npm'), tarball);
    const pkgUrl = '/cdn/npm/node_modules/edgetune';
    const html = readFileSync(join(ROOT, 'docs', 'examples', 'vite', 'index.html'), 'utf8').replace('<script type="module" src="/main.js"></script>', '<script type="module" src="main.js"></script>');
    mkdirSync(join(site, 'shop', 'app'), { recursive: true });
    writeFileSync(join(site, 'shop', 'app', 'index.html'), html);
    const main = readFileSync(join(ROOT, 'docs', 'examples', 'vite', 'main.js'), 'utf8').replace("from 'edgetune'", `from '${pkgUrl}/dist/index.js'`);
    writeFileSync(join(site, 'shop', 'app', 'main.js'), main);
    const server = await serve(site);
    try {
      const requests = await trainAndPredict(`${server.url}/shop/app/index.html`, 'static-subpath');
      const paths = requests.filter((u) => u.startsWith('http')).map((u) => new URL(u).pathname);
      assert.ok(paths.some((p) => p === `${pkgUrl}/dist/worker.js`), 'the worker loads from beside dist/index.js');
      assert.ok(paths.some((p) => p.startsWith(`${pkgUrl}/models/mobilenet_v2_140/`)), 'the backbone loads from the package');
    } finally {
      await server.close();
    }
  });
});
