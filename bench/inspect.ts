// `node --import tsx bench/inspect.ts [--datasets fashion-dev,stamps-dev] [--seeds 1,2,3] [--out FILE]`:
// inspect() measured against defects planted in real data (the ../shared dev sets):
//   - label errors: 5% and 10% of the training labels flipped to another class (seeded):
//     precision and recall of the flags, and the test accuracy of a linear head trained on
//     the noisy labels, on the flagged examples removed, and on them relabelled as suggested;
//   - duplicates: 60 images copied into another split after a resize (50-150%), a JPEG
//     re-encode (quality 50-95) and a crop of up to 10% (COPY_SEED=N picks other copies):
//     the share found and the pairs of distinct originals reported, by inspect's detector
//     (embedding neighbours confirmed by pixels: pixelChecked) and by embeddings alone
//     (byThreshold), at several thresholds;
//   - what to add next (fashion-dev): from 2 labelled per class, 10 more at a time from the
//     rest of train by labelNext and at random, test accuracy after each round;
//   - time: inspect on every image of the set with the embeddings cached.
// Embeddings come from the engine (ONNX Runtime when installed), once per image.
// --only time|labels|duplicates|labelling: one part, merged into the existing results file.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { createEngine, type Engine } from '../src/engine/engine.js';
import type { ImageSource } from '../src/engine/data/examples.js';
import { inspectEmbeddings } from '../src/engine/inspect/inspect.js';
import { nearGroups, similarPairs } from '../src/engine/inspect/duplicates.js';
import { nearCopies } from '../src/engine/inspect/near-copies.js';
import { labelNext } from '../src/engine/inspect/label-next.js';
import { fitAndPredict, normalizeRows, standardizeRows } from '../src/engine/inspect/oof.js';
import { FileEmbeddingStore } from '../src/node/embed-store-fs.js';
import { fileSource } from '../src/node/files.js';
import { onnxRuntimeForward } from '../src/node/onnx-forward.js';
import { nodeWasmThreads } from '../src/node/wasm-threads.js';
import { createRng } from '../src/engine/util/random.js';

const opt = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const ROOT = new URL('..', import.meta.url).pathname;
const DATA = resolve(process.env.EDGETUNE_DATA ?? join(ROOT, '..', 'shared', 'datasets'));
const datasets = opt('datasets', 'fashion-dev,stamps-dev').split(',');
const seeds = opt('seeds', '1,2,3').split(',').map(Number);
const cacheDir = mkdtempSync(join(tmpdir(), 'edgetune-inspect-bench-'));
const only = process.argv.includes('--only') ? opt('only', '') : '';
const part = (name: string) => !only || only === name;

interface Item { label: string; split: 'train' | 'val' | 'test'; source: ImageSource }

/** Fisher-Yates with a seeded generator. */
function shuffle<T>(items: readonly T[], rng: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function listSet(name: string): Promise<Item[]> {
  const items: Item[] = [];
  for (const split of ['train', 'val', 'test'] as const) {
    const dir = join(DATA, name, split);
    let classes: string[] = [];
    try {
      classes = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const label of classes) for (const f of readdirSync(join(dir, label)).sort()) items.push({ label, split, source: await fileSource(join(dir, label, f)) });
  }
  return items;
}

async function embed(engine: Engine, sources: ImageSource[]): Promise<Float32Array> {
  const emb = await engine.embedder.embedAll(sources, sources.map(() => [0]));
  const dim = emb.x.dim;
  const out = new Float32Array(sources.length * dim);
  sources.forEach((_, i) => out.set(emb.x.data.subarray(emb.views[i]![0]! * dim, (emb.views[i]![0]! + 1) * dim), i * dim));
  return out;
}

const subset = (rows: Float32Array, dim: number, ids: number[]) => {
  const out = new Float32Array(ids.length * dim);
  ids.forEach((id, r) => out.set(rows.subarray(id * dim, (id + 1) * dim), r * dim));
  return out;
};

/** Test accuracy of a linear head (the inspect heads' kind, on standardized features) trained on `trainIds` with `labels`. */
function headAccuracy(unit: Float32Array, dim: number, labels: Int32Array, classes: number, trainIds: number[], testIds: number[], testLabels: Int32Array): number {
  const x = tf.tensor2d(unit, [unit.length / dim, dim]);
  try {
    const p = fitAndPredict(x, labels, classes, trainIds, testIds);
    let correct = 0;
    testIds.forEach((_, r) => {
      const row = p.subarray(r * classes, (r + 1) * classes);
      if (row.indexOf(Math.max(...row)) === testLabels[r]) correct++;
    });
    return correct / testIds.length;
  } finally {
    x.dispose();
  }
}

async function labelErrors(name: string, items: Item[], rows: Float32Array, dim: number) {
  const names = [...new Set(items.map((i) => i.label))].sort();
  const train = items.flatMap((it, i) => (it.split === 'test' ? [] : [i]));
  const test = items.flatMap((it, i) => (it.split === 'test' ? [i] : []));
  const truth = Int32Array.from(items, (it) => names.indexOf(it.label));
  const feats = standardizeRows({ data: rows, dim });
  const testLabels = Int32Array.from(test, (i) => truth[i]!);
  const results = [];
  for (const rate of [0.05, 0.1]) {
    for (const seed of seeds) {
      const rng = createRng(seed * 1000 + Math.round(rate * 100));
      const noisy = Int32Array.from(truth);
      const order = shuffle(train, rng);
      const flipped = new Set(order.slice(0, Math.round(rate * train.length)));
      for (const i of flipped) noisy[i] = (truth[i]! + 1 + Math.floor(rng() * (names.length - 1))) % names.length;
      const report = inspectEmbeddings({ items: train.map((i) => ({ name: String(i), label: names[noisy[i]!]!, split: 'train' as const, hash: `h${i}` })), rows: { data: subset(rows, dim, train), dim } }, { seed });
      const flags = report.labelIssues.map((x) => train[x.item.index]!);
      const hit = flags.filter((i) => flipped.has(i)).length;
      const relabelled = Int32Array.from(noisy);
      report.labelIssues.forEach((x) => (relabelled[train[x.item.index]!] = names.indexOf(x.suggested)));
      const flaggedSet = new Set(flags);
      const run = {
        dataset: name,
        noise: rate,
        seed,
        trainImages: train.length,
        flipped: flipped.size,
        flagged: flags.length,
        precision: flags.length ? hit / flags.length : 0,
        recall: hit / flipped.size,
        testAccuracy: {
          clean: headAccuracy(feats, dim, truth, names.length, train, test, testLabels),
          noisy: headAccuracy(feats, dim, noisy, names.length, train, test, testLabels),
          flaggedRemoved: headAccuracy(feats, dim, noisy, names.length, train.filter((i) => !flaggedSet.has(i)), test, testLabels),
          flaggedRelabelled: headAccuracy(feats, dim, relabelled, names.length, train, test, testLabels),
        },
      };
      process.stderr.write(`[bench inspect] labels ${JSON.stringify(run)}\n`);
      results.push(run);
    }
  }
  return results;
}

/** A copy of `file`: resized 50-150%, cropped up to 10%, JPEG quality 50-95. */
async function transformedCopy(file: string, rng: () => number, out: string): Promise<string> {
  const img = sharp(file).rotate();
  const { width = 1, height = 1 } = await img.metadata();
  const crop = 0.1 * rng();
  const [cw, ch] = [Math.max(1, Math.round(width * (1 - crop))), Math.max(1, Math.round(height * (1 - crop)))];
  const [left, top] = [Math.floor((width - cw) * rng()), Math.floor((height - ch) * rng())];
  const scale = 0.5 + rng();
  await img
    .extract({ left, top, width: cw, height: ch })
    .resize(Math.max(1, Math.round(cw * scale)), Math.max(1, Math.round(ch * scale)))
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 50 + Math.floor(rng() * 46) })
    .toFile(out);
  return out;
}

/**
 * The detector inspect() runs (near-copies.ts: embedding neighbours confirmed by aligned pixels), at
 * several copy-score thresholds: the copies found in their original's group, and the pairs of distinct
 * originals reported.
 */
async function pixelCheck(all: Float32Array, dim: number, hashes: string[], sources: ImageSource[], n: number, picks: number[]) {
  const name = (i: number) => sources[i]!.name.split('/').slice(-3).join('/');
  const out = [];
  for (const threshold of [0.85, 0.9, 0.95]) {
    const t0 = performance.now();
    const pairs = await nearCopies(all, dim, hashes, (i) => sources[i]!.load(), { threshold });
    const ms = performance.now() - t0;
    const groups = nearGroups(sources.length, pairs, hashes);
    const groupOf = new Map<number, number>();
    groups.forEach((g, gi) => g.members.forEach((m) => groupOf.set(m, gi)));
    const found = picks.filter((orig, k) => groupOf.has(n + k) && groupOf.get(n + k) === groupOf.get(orig)).length;
    const originals = pairs.filter(([a, b]) => a < n && b < n);
    out.push({ threshold, recall: found / picks.length, falsePairsAmongOriginals: originals.length, ms: Math.round(ms), examples: originals.slice(0, 5).map(([a, b, s]) => ({ a: name(a), b: name(b), score: Number(s.toFixed(4)) })) });
  }
  return out;
}

async function duplicates(name: string, engine: Engine, items: Item[], rows: Float32Array, dim: number) {
  const rng = createRng(Number(process.env.COPY_SEED ?? 77));
  const dir = mkdtempSync(join(tmpdir(), 'edgetune-dups-'));
  try {
    const picks = shuffle([...items.keys()], rng).slice(0, 60);
    const copies: ImageSource[] = [];
    for (const [k, i] of picks.entries()) copies.push(await fileSource(await transformedCopy(items[i]!.source.name, rng, join(dir, `copy-${k}.jpg`))));
    const copyRows = normalizeRows({ data: await embed(engine, copies), dim });
    const unit = normalizeRows({ data: rows, dim });
    const all = new Float32Array(unit.length + copyRows.length);
    all.set(unit);
    all.set(copyRows, unit.length);
    const n = items.length;
    const hashes = [...items.map((i) => i.source.hash), ...copies.map((c) => c.hash)];
    const cos = (i: number, j: number) => {
      let s = 0;
      for (let d = 0; d < dim; d++) s += all[i * dim + d]! * all[j * dim + d]!;
      return s;
    };
    const copySims = picks.map((orig, k) => cos(n + k, orig));
    const thresholds = [0.85, 0.9, 0.92, 0.94];
    const byThreshold = thresholds.map((t) => {
      // The detector as inspect runs it (cosine and standing out from look-alikes), grouped.
      const groups = nearGroups(n + copies.length, similarPairs(all, dim, t, hashes), hashes);
      const groupOf = new Map<number, number>();
      groups.forEach((g, gi) => g.members.forEach((m) => groupOf.set(m, gi)));
      const found = picks.filter((orig, k) => groupOf.has(n + k) && groupOf.get(n + k) === groupOf.get(orig)).length;
      const pairs = similarPairs(all, dim, t, hashes).filter(([a, b]) => a < n && b < n);
      return { threshold: t, recall: found / picks.length, falsePairsAmongOriginals: pairs.length, examples: pairs.slice(0, 5).map(([a, b, sim]) => ({ a: items[a]!.source.name.split('/').slice(-2).join('/'), b: items[b]!.source.name.split('/').slice(-2).join('/'), similarity: Number(sim.toFixed(4)) })) };
    });
    const pixelChecked = await pixelCheck(all, dim, hashes, [...items.map((i) => i.source), ...copies], n, picks);
    const result = {
      dataset: name,
      copies: picks.length,
      copySimilarity: { min: Math.min(...copySims), median: [...copySims].sort((a, b) => a - b)[copySims.length >> 1] },
      byThreshold,
      pixelChecked,
    };
    process.stderr.write(`[bench inspect] duplicates ${JSON.stringify(result)}\n`);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function labelling(name: string, items: Item[], rows: Float32Array, dim: number, seed: number, budget: number) {
  const names = [...new Set(items.map((i) => i.label))].sort();
  const truth = Int32Array.from(items, (it) => names.indexOf(it.label));
  const unit = normalizeRows({ data: rows, dim });
  const feats = standardizeRows({ data: rows, dim });
  const train = items.flatMap((it, i) => (it.split === 'train' ? [i] : []));
  const test = items.flatMap((it, i) => (it.split === 'test' ? [i] : []));
  const testLabels = Int32Array.from(test, (i) => truth[i]!);
  const rng = createRng(seed);
  const start = names.flatMap((_, c) => shuffle(train.filter((i) => truth[i] === c), rng).slice(0, 2));
  const curves: Record<'labelNext' | 'random', { labels: number; accuracy: number }[]> = { labelNext: [], random: [] };
  for (const order of ['labelNext', 'random'] as const) {
    const labelled = [...start];
    const shuffled = shuffle(train.filter((i) => !start.includes(i)), createRng(seed + 5));
    let randomAt = 0;
    while (labelled.length <= budget) {
      curves[order].push({ labels: labelled.length, accuracy: headAccuracy(feats, dim, truth, names.length, labelled, test, testLabels) });
      const inPool = new Set(labelled);
      const pool = train.filter((i) => !inPool.has(i));
      if (!pool.length) break;
      let next: number[];
      if (order === 'random') {
        next = [];
        while (next.length < 10 && randomAt < shuffled.length) if (!inPool.has(shuffled[randomAt]!)) next.push(shuffled[randomAt++]!);
        else randomAt++;
      } else {
        const ranked = labelNext(subset(unit, dim, labelled), Int32Array.from(labelled, (i) => truth[i]!), names.length, subset(unit, dim, pool), dim, 10);
        next = ranked.slice(0, 10).map((r) => pool[r.index]!);
      }
      labelled.push(...next);
    }
  }
  const target = curves.random.at(-1)!.accuracy;
  const reached = curves.labelNext.find((p) => p.accuracy >= target);
  const result = { dataset: name, seed, budget, randomFinal: target, labelNextFinal: curves.labelNext.at(-1)!.accuracy, labelsToReachRandomFinal: reached?.labels ?? null, share: reached ? reached.labels / curves.random.at(-1)!.labels : null, curves };
  process.stderr.write(`[bench inspect] labelling ${JSON.stringify({ ...result, curves: undefined })}\n`);
  return result;
}

const forward = await import('onnxruntime-node').then(() => onnxRuntimeForward(), () => undefined);
const engine = await createEngine({ backends: ['wasm', 'cpu'], wasmThreadsHost: nodeWasmThreads(), embeddingStore: new FileEmbeddingStore(cacheDir), ...(forward ? { forward } : {}) });
const out: Record<string, unknown[]> = { labelErrors: [], duplicates: [], labelling: [], time: [] };
try {
  for (const name of datasets) {
    const items = await listSet(name);
    const rows = await embed(engine, items.map((i) => i.source));
    const dim = rows.length / items.length;
    const t0 = performance.now();
    const report = await engine.inspectSources(items.map((i) => ({ label: i.label, source: i.source, split: i.split })), [], { seed: 1 });
    out.time!.push({ dataset: name, images: items.length, cachedInspectMs: Math.round(performance.now() - t0), reportMs: Math.round(report.ms) });
    if (part('labels')) out.labelErrors!.push(...(await labelErrors(name, items, rows, dim)));
    if (part('duplicates')) out.duplicates!.push(await duplicates(name, engine, items, rows, dim));
    if (part('labelling') && name === 'fashion-dev') for (const seed of seeds) out.labelling!.push(labelling(name, items, rows, dim, seed, 500));
  }
} finally {
  await engine.dispose();
  rmSync(cacheDir, { recursive: true, force: true });
}
const file = opt('out', join(ROOT, 'bench/results/inspect-latest.json'));
const fields = { time: 'time', labels: 'labelErrors', duplicates: 'duplicates', labelling: 'labelling' } as const;
const previous = only && existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
const fresh = only ? { time: out.time, [fields[only as keyof typeof fields]]: out[fields[only as keyof typeof fields]] } : out;
writeFileSync(file, `${JSON.stringify({ ...previous, machine: { cpus: cpus().length, cpu: cpus()[0]?.model }, date: new Date().toISOString().slice(0, 10), ...fresh }, null, 1)}\n`);
process.stderr.write(`[bench inspect] wrote ${file}\n`);
