// The README's main job on a fresh clone: `npm ci && npm start` exactly as the
// README writes it, in a new checkout with nothing built or converted, then the
// demo opened in Chromium. A set-up step that only works on a developer's
// machine (a file that is not committed, a build output assumed present) fails here.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ARTIFACTS, ROOT, launch } from './harness.mjs';

/** The quick-start command as the README writes it (the first fenced block after "Quick start"). */
function readmeStartCommand() {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /## Quick start[\s\S]*?```sh\n([^\n]+)\n```/.exec(readme);
  assert.ok(m, 'README has a Quick start section with a sh block');
  return m[1].trim();
}

/** Waits until `child` prints the demo's URL; rejects if it exits first or takes too long. */
function waitForUrl(child, log, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no demo URL after ${timeoutMs / 1000} s:\n${log.join('').slice(-3000)}`)), timeoutMs);
    const onData = (d) => {
      log.push(String(d));
      const m = /demo running at (http:\/\/127\.0\.0\.1:\d+)\//.exec(log.join(''));
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => log.push(String(d)));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`'${child.spawnargs.at(-1)}' exited ${code} before serving:\n${log.join('').slice(-3000)}`));
    });
  });
}

describe('fresh clone: the README quick start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgetune-clone-'));
  let child;
  after(() => {
    // npm start runs in its own process group: end npm and the server under it.
    if (child?.pid && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('npm ci && npm start in a new clone serves the demo, which loads the bundled backbone in Chromium', async () => {
    const command = readmeStartCommand();
    assert.equal(command, 'npm ci && npm start');
    // The committed tree only: what a person cloning the repository gets.
    const clone = spawnSync('git', ['clone', '--quiet', '--no-hardlinks', ROOT, join(dir, 'edgetune')], { encoding: 'utf8' });
    assert.equal(clone.status, 0, clone.stderr);
    const cwd = join(dir, 'edgetune');
    const log = [];
    child = spawn('sh', ['-c', command], {
      cwd,
      detached: true,
      // PORT=0: any free port, so the test never collides with a running demo.
      env: { ...process.env, PORT: '0', npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await waitForUrl(child, log, 8 * 60_000);

    const context = await launch();
    try {
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${url}/`);
      await page.waitForSelector('body[data-phase="ready"]', { timeout: 120_000 });
      assert.equal(await page.locator('#backend').getAttribute('data-backend'), 'wasm');
      assert.match(await page.locator('#status').textContent(), /Add at least two classes/);
      await page.screenshot({ path: join(ARTIFACTS, 'fresh-clone-demo.png') });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
