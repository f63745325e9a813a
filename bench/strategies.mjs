#!/usr/bin/env node
// `node bench/strategies.mjs [--strategies head,partial,full] [--datasets stamps-dev,fashion-dev] [--seeds 1,2,3] [--out FILE]`:
// the seeds' comparison of the three transfer strategies, as a person runs it
// (`edgetune train <data> --strategy S --seed N`, the built CLI, defaults otherwise):
// test accuracy and wall time per run, cold (each run its own cache), one run at a time.
// Writes bench/results/strategies-latest.json (or --out) and prints a Markdown table.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT } from '../e2e/harness.mjs';

const opt = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const root = resolve(process.env.EDGETUNE_DATA ?? join(ROOT, '..', 'shared', 'datasets'));
const strategies = opt('strategies', 'head,partial,full').split(',');
const datasets = opt('datasets', 'stamps-dev,fashion-dev').split(',');
const seeds = opt('seeds', '1,2,3').split(',').map(Number);
const cli = join(ROOT, 'dist/cli/main.js');
if (!existsSync(cli)) {
  process.stderr.write('[bench strategies] build first: npm run build\n');
  process.exit(1);
}
for (const d of datasets) {
  if (!existsSync(join(root, d))) {
    process.stderr.write(`[bench strategies] no dataset at ${join(root, d)}: set EDGETUNE_DATA\n`);
    process.exit(1);
  }
}

const runs = [];
for (const dataset of datasets) {
  for (const strategy of strategies) {
    for (const seed of seeds) {
      const dir = mkdtempSync(join(tmpdir(), 'edgetune-strategies-'));
      const started = Date.now();
      const r = spawnSync(process.execPath, [cli, 'train', join(root, dataset), '--out', join(dir, 'model'), '--strategy', strategy, '--seed', String(seed), '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
      const minutes = (Date.now() - started) / 60_000;
      rmSync(dir, { recursive: true, force: true });
      if (r.status !== 0) throw new Error(`${dataset} ${strategy} seed ${seed}: exit ${r.status}: ${r.stderr.slice(-800)}`);
      const out = JSON.parse(r.stdout);
      const p = out.report.partial;
      const run = {
        dataset,
        strategy,
        seed,
        minutes: Number(minutes.toFixed(2)),
        testAccuracy: out.test?.accuracy,
        runtime: out.runtime,
        embedMs: Math.round(out.report.embedMs),
        trainMs: Math.round(out.report.trainMs),
        backboneEpochs: p?.history.length ?? 0,
        backboneEpochMs: p ? Math.round(p.history.reduce((n, h) => n + h.ms, 0) / p.history.length) : null,
        memory: p?.memory ?? null,
      };
      process.stderr.write(`[bench strategies] ${JSON.stringify(run)}\n`);
      runs.push(run);
    }
  }
}

const stat = (xs) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean: Number(m.toFixed(4)), sd: Number(sd.toFixed(4)) };
};
const summary = datasets.flatMap((dataset) =>
  strategies.map((strategy) => {
    const rs = runs.filter((r) => r.dataset === dataset && r.strategy === strategy);
    return { dataset, strategy, testAccuracy: stat(rs.map((r) => r.testAccuracy)), minutes: stat(rs.map((r) => r.minutes)), perSeed: rs.map((r) => r.testAccuracy) };
  }),
);
const result = { machine: { cpus: cpus().length, cpu: cpus()[0]?.model }, date: new Date().toISOString().slice(0, 10), seeds, runs, summary };
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(resolve(opt('out', join(ROOT, 'bench/results/strategies-latest.json'))), JSON.stringify(result, null, 2) + '\n');
const pct = (x) => (x * 100).toFixed(1);
process.stdout.write(
  ['| dataset | strategy | test accuracy (mean ± sd) | per seed | wall time (min, mean) |', '|---|---|---|---|---|']
    .concat(summary.map((s) => `| ${s.dataset} | ${s.strategy} | ${pct(s.testAccuracy.mean)} ± ${pct(s.testAccuracy.sd)} | ${s.perSeed.map(pct).join(', ')} | ${s.minutes.mean.toFixed(1)} |`))
    .join('\n') + '\n',
);
