#!/usr/bin/env node
// Runs tfjs-core's own jasmine specs (shipped in its npm package as
// dist/**/*_test.js) for the kernels edgetune registers or relies on in
// training, on the CPU backend (the reference) and on tfjs-backend-wasm with
// edgetune's kernels (setup.ts). esbuild bundles setup.ts and the spec files
// into one script, so that both see one tfjs-core; jasmine runs it.
//
//   node scripts/tfjs-specs/run.mjs [--json out.json]
//
// Prints one line per suite and backend; with --json writes every spec's
// status by backend, which tfjs-specs.test.mjs compares.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(root, 'package.json'));

/** Spec files (under tfjs-core's dist/) and the suites (describe names) run from them. */
export const SPEC_FILES = {
  'ops/conv2d_test.js': ['conv2d'],
  'ops/depthwise_conv2d_test.js': ['depthwiseConv2D', 'depthwiseConv2d gradients'],
  'ops/fused/fused_depthwise_conv2d_test.js': ['fused depthwiseConv2D'],
  'ops/fused/fused_conv2d_test.js': ['fused conv2d'],
  'ops/mat_mul_test.js': ['matmul'],
  'ops/sum_test.js': ['sum'],
  'ops/transpose_test.js': ['transpose'],
  'ops/clone_test.js': ['clone'],
  'ops/pad_test.js': ['pad'],
  'ops/mean_test.js': ['mean'],
  'ops/clip_by_value_test.js': ['clipByValue'],
};

export async function runSpecs({ backends = ['cpu', 'wasm'] } = {}) {
  const core = dirname(require.resolve('@tensorflow/tfjs-core/package.json'));
  // Inside the project, so that the bundle's require('jasmine-core') resolves.
  mkdirSync(join(root, '.cache'), { recursive: true });
  const dir = mkdtempSync(join(root, '.cache', 'tfjs-specs-'));
  try {
    const entry = [`import ${JSON.stringify(join(root, 'scripts/tfjs-specs/setup.ts'))};`, ...Object.keys(SPEC_FILES).map((f) => `import ${JSON.stringify(join(core, 'dist', f))};`)].join('\n');
    const bundle = join(dir, 'specs.cjs');
    await build({
      stdin: { contents: entry, resolveDir: root, loader: 'js' },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: bundle,
      // One jasmine: the runner's (its globals are what the specs call).
      external: ['jasmine-core', 'jasmine'],
      mainFields: ['module', 'main'],
      // tfjs-core declares itself free of side effects; its spec files are nothing but.
      ignoreAnnotations: true,
      logLevel: 'error',
    });
    process.env.EDGETUNE_ROOT = root;
    process.env.SPEC_BACKENDS = backends.join(',');
    process.env.SPEC_SUITES = JSON.stringify(Object.values(SPEC_FILES).flat());
    const { default: Jasmine } = await import('jasmine');
    const runner = new Jasmine({ projectBaseDir: dir });
    runner.exitOnCompletion = false;
    runner.loadConfig({ spec_dir: '.', spec_files: ['specs.cjs'], random: false, stopOnSpecFailure: false });
    const specs = [];
    runner.clearReporters();
    runner.addReporter({
      specDone: (r) => specs.push({ name: r.fullName, status: r.status, message: r.failedExpectations.map((e) => e.message).join('; ').slice(0, 400) }),
    });
    const result = await runner.execute();
    return { overall: result.overallStatus, specs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "conv2d wasm {} gradient x=..." -> { backend: 'wasm', spec: 'conv2d gradient x=...' }. */
export function splitName(fullName, backends) {
  for (const b of backends) {
    const at = fullName.indexOf(` ${b} {`);
    if (at < 0) continue;
    const close = fullName.indexOf('} ', at);
    return { backend: b, spec: fullName.slice(0, at) + fullName.slice(close + 1) };
  }
  return null;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { specs } = await runSpecs();
  const table = new Map();
  for (const s of specs) {
    const k = splitName(s.name, ['cpu', 'wasm']);
    if (!k || s.status === 'excluded') continue;
    const suite = Object.values(SPEC_FILES).flat().find((n) => k.spec.startsWith(`${n} `)) ?? '?';
    const row = table.get(`${suite} ${k.backend}`) ?? { passed: 0, failed: 0 };
    row[s.status === 'passed' ? 'passed' : 'failed']++;
    table.set(`${suite} ${k.backend}`, row);
  }
  for (const [k, v] of table) console.log(`${k}: ${v.passed} passed, ${v.failed} failed`);
  const out = process.argv.indexOf('--json');
  if (out > 0) writeFileSync(process.argv[out + 1], JSON.stringify(specs, null, 1));
}
