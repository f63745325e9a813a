// Sweep partial-strategy settings on fashion-dev with one engine (caches reused).
import { createEngine } from './engine/classifier.js';
import { FileEmbeddingStore } from './engine/embed-store-fs.js';
import { fileSource } from './engine/files-node.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
const root = process.env.DATA ?? '/work/shared/datasets/fashion-dev';
const engine = await createEngine({ backends: ['wasm'], embeddingStore: new FileEmbeddingStore('/tmp/ec-fashion') });
const list = (split: string) => readdirSync(join(root, split)).flatMap((c) => readdirSync(join(root, split, c)).map((f) => ({ label: c, path: join(root, split, c, f) })));
for (const split of ['train', 'val']) {
  const by = new Map<string, string[]>();
  for (const e of list(split)) (by.get(e.label) ?? by.set(e.label, []).get(e.label)!).push(e.path);
  for (const [label, paths] of by) engine.addExamples(label, await Promise.all(paths.map((p) => fileSource(p))), split === 'val' ? { split: 'val' } : {});
}
const test = await Promise.all(list('test').map(async (e) => ({ label: e.label, image: await fileSource(e.path) })));
const configs = JSON.parse(process.argv[2]!);
for (const c of configs) {
  const t0 = performance.now();
  const r = await engine.fineTune({ seed: 1, ...c });
  const ev = await engine.evaluate(test);
  console.log(JSON.stringify({ c, test: ev.accuracy, bestVal: r.bestValAccuracy, partialBest: r.partial?.bestEpoch, partialVal: r.partial?.history.map((h) => h.valAccuracy), epochMs: r.partial ? r.partial.history.reduce((n, h) => n + h.ms, 0) / r.partial.history.length : null, s: (performance.now() - t0) / 1000 }));
}
