#!/usr/bin/env node
// The one test command (npm test, called by .ci/run): makes sure Chromium is
// there (installing Debian's when it may), converts the backbones if needed,
// builds, type-checks, runs the unit tests (node:test), then the Playwright e2e suite.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureChromium } from './ensure-chromium.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

function run(label, cmd, args) {
  console.log(`\n[edgetune] ${label}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[edgetune] ${label} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

function find(dir, pattern) {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => pattern.test(f))
    .map((f) => relative(root, join(dir, f)))
    .sort();
}

// --unit: build and the unit tests only (npm run test:unit); no browser needed.
const unitOnly = process.argv.includes('--unit');

// First, so a machine without a browser stops at once instead of after the unit tests.
if (!unitOnly) {
  const chromium = ensureChromium();
  if (chromium.error) {
    console.error(`edgetune: ${chromium.error}`);
    process.exit(1);
  }
  process.env.CHROMIUM_PATH = chromium.path;
}

run('backbones', process.execPath, ['scripts/convert-backbones.mjs']);
run('build', process.execPath, ['scripts/build.mjs']);
// Every tsconfig (sources, tests, demo, service worker, bench): tsx runs the tests without checking types.
run('typecheck', process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '--silent', 'typecheck']);
// Two files at a time (WASM runs one thread per process, and this machine has two
// cores), the longest first so both runners finish together.
const SLOW_FIRST = ['src/engine/train/partial.test.ts', 'src/engine/train/partial-training.test.ts', 'src/engine/model/onnx/onnx-export.test.ts', 'src/cli/cli.test.ts', 'src/engine/train/personalize.test.ts', 'src/cli/real-data.test.ts', 'src/cli/cli-paths.test.ts', 'src/engine/engine.test.ts'];
const unit = [...find('src', /\.test\.ts$/), ...find('scripts', /\.test\.mjs$/)].sort((a, b) => rank(a) - rank(b));
function rank(f) {
  const i = SLOW_FIRST.indexOf(f);
  return i < 0 ? SLOW_FIRST.length : i;
}
run('unit tests', process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...unit]);
if (unitOnly) process.exit(0);
run('e2e (Chromium)', process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...find('e2e', /\.test\.mjs$/)]);
