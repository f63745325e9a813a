// The test command's browser check: install when it may, else one line naming the command.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { ensureChromium } from './ensure-chromium.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A PATH folder holding executables with the given names. */
function binDir(names) {
  const dir = mkdtempSync(join(tmpdir(), 'edgetune-bin-'));
  for (const n of names) {
    writeFileSync(join(dir, n), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, n), 0o755);
  }
  return dir;
}
const nowhere = '/nonexistent/chromium';

describe('ensureChromium', () => {
  it('uses CHROMIUM_PATH, then Debian\'s path, then chromium on PATH', () => {
    const bin = binDir(['chromium']);
    assert.deepEqual(ensureChromium({ env: { CHROMIUM_PATH: join(bin, 'chromium') }, defaultPath: nowhere }), { path: join(bin, 'chromium') });
    assert.deepEqual(ensureChromium({ env: { PATH: '/nonexistent' }, defaultPath: join(bin, 'chromium') }), { path: join(bin, 'chromium') });
    assert.deepEqual(ensureChromium({ env: { PATH: bin }, defaultPath: nowhere }), { path: join(bin, 'chromium') });
  });

  it('installs Debian\'s chromium with apt-get as root when it is missing', () => {
    const apt = binDir(['apt-get']);
    const target = mkdtempSync(join(tmpdir(), 'edgetune-chromium-'));
    const calls = [];
    const r = ensureChromium({
      env: { PATH: `${apt}:${target}` },
      uid: 0,
      defaultPath: nowhere,
      log: () => undefined,
      install: (aptPath) => {
        calls.push(aptPath);
        writeFileSync(join(target, 'chromium'), '#!/bin/sh\n');
        chmodSync(join(target, 'chromium'), 0o755);
        return true;
      },
    });
    assert.deepEqual(calls, [join(apt, 'apt-get')]);
    assert.deepEqual(r, { path: join(target, 'chromium') });
  });

  it('names the command to run when it may not install (not root, or no apt-get)', () => {
    const apt = binDir(['apt-get']);
    const install = () => assert.fail('must not install');
    const notRoot = ensureChromium({ env: { PATH: apt }, uid: 1000, defaultPath: nowhere, install });
    assert.match(notRoot.error, /sudo apt-get install chromium/);
    const noApt = ensureChromium({ env: { PATH: '/nonexistent' }, uid: 0, defaultPath: nowhere, install });
    assert.match(noApt.error, /package manager.*apt-get install chromium/);
    const failed = ensureChromium({ env: { PATH: apt }, uid: 0, defaultPath: nowhere, log: () => undefined, install: () => false });
    assert.match(failed.error, /apt-get install -y chromium/);
    for (const r of [notRoot, noApt, failed]) assert.equal(r.error.includes('\n'), false);
  });

  it('npm test stops at once with one line and no stack trace when there is no browser', () => {
    const r = spawnSync(process.execPath, ['scripts/test.mjs'], {
      cwd: root,
      env: { PATH: process.env.PATH, CHROMIUM_PATH: nowhere },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '', 'nothing ran before the check');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^edgetune: CHROMIUM_PATH=\/nonexistent\/chromium is not an executable file: .*apt-get install chromium/);
  });
});
