#!/usr/bin/env node
// `node bench/partial.mjs [--seeds 1,2,3] [--threads 1,2] [--data DIR] [--out FILE] [-- extra train options]`:
// the partial strategy's wall time and accuracy on fashion-dev through the CLI,
// as a person runs it (`edgetune train <data> --strategy partial --seed N`);
// --threads runs each seed once per thread count, one after the other (same results, other speed).
// Each run starts cold (its own cache). Appends nothing: writes
// bench/results/partial-cli-latest.json (or --out), which `npm run bench` reports as
// partialMinutes (a full run takes longer than the default bench).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT } from '../e2e/harness.mjs';

const opt = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const data = resolve(opt('data', join(process.env.EDGETUNE_DATA ?? join(ROOT, '..', 'shared', 'datasets'), 'fashion-dev')));
const seeds = opt('seeds', '1').split(',').map(Number);
const threadCounts = opt('threads', '').split(',').filter(Boolean).map(Number);
const extra = process.argv.includes('--') ? process.argv.slice(process.argv.indexOf('--') + 1) : [];
if (!existsSync(data)) {
  process.stderr.write(`[bench partial] no dataset at ${data}: pass --data or set EDGETUNE_DATA\n`);
  process.exit(1);
}

const runs = [];
for (const [seed, threads] of seeds.flatMap((s) => (threadCounts.length ? threadCounts : [null]).map((t) => [s, t]))) {
  const dir = mkdtempSync(join(tmpdir(), 'edgetune-partial-'));
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'train', data, '--out', join(dir, 'model'), '--strategy', 'partial', '--seed', String(seed), '--json', ...(threads ? ['--threads', String(threads)] : []), ...extra], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const minutes = (Date.now() - started) / 60_000;
  rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`seed ${seed}: exit ${r.status}: ${r.stderr.slice(-500)}`);
  const out = JSON.parse(r.stdout);
  const p = out.report.partial;
  const run = {
    seed,
    minutes: Number(minutes.toFixed(2)),
    testAccuracy: out.test?.accuracy,
    runtime: out.runtime,
    threads: out.backend?.details?.threads ?? null,
    embedMs: Math.round(out.report.embedMs),
    trainMs: Math.round(out.report.trainMs),
    headEpochs: out.report.epochsRun,
    partialEpochs: p?.history.length ?? 0,
    partialBestEpoch: p?.bestEpoch ?? null,
    partialRefitEpochs: p?.refitHistory?.length ?? 0,
    // Equal across thread counts: threads change the speed, not the arithmetic.
    partialLosses: p ? p.history.map((h) => h.loss) : [],
    partialEpochMs: p ? Math.round(p.history.reduce((n, h) => n + h.ms, 0) / p.history.length) : null,
  };
  process.stderr.write(`[bench partial] ${JSON.stringify(run)}\n`);
  runs.push(run);
}
const mean = (k) => Number((runs.reduce((n, r) => n + r[k], 0) / runs.length).toFixed(3));
const result = {
  dataset: data.split(/[/\\]/).pop(),
  options: extra,
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model },
  date: new Date().toISOString().slice(0, 10),
  runs,
  meanMinutes: mean('minutes'),
  meanTestAccuracy: mean('testAccuracy'),
};
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(resolve(opt('out', join(ROOT, 'bench/results/partial-cli-latest.json'))), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(JSON.stringify(result) + '\n');
