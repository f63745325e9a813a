// Gathers one embedding per image (the embedding cache answers for images
// training already saw) and inspects them. Undecodable images are listed, not fatal.
import type { InspectItem, InspectOptions, InspectReport, InspectSplit } from '../../types.js';
import type { Embedder } from '../data/embed.js';
import type { ImageSource } from '../data/examples.js';
import { checkInspect, inspectEmbeddings, type InspectEntry } from './inspect.js';
import { nearCopies } from './near-copies.js';
import { normalizeRows, type Rows } from './oof.js';

export interface InspectSource {
  label: string;
  source: ImageSource;
  split: InspectSplit;
  /** The engine example's id, reported as InspectItem.id. */
  id?: number;
}

async function embedPlain(embedder: Embedder, sources: ImageSource[], opts: InspectOptions): Promise<{ rows: Rows; valid: number[]; skipped: { name: string; reason: string }[] }> {
  const emb = await embedder.embedAll(sources, sources.map(() => [0]), { skipInvalid: true, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  const valid = sources.map((_, i) => i).filter((i) => !emb.invalid.has(i));
  const dim = emb.x.dim;
  const data = new Float32Array(valid.length * dim);
  valid.forEach((i, r) => data.set(emb.x.data.subarray(emb.views[i]![0]! * dim, (emb.views[i]![0]! + 1) * dim), r * dim));
  return { rows: { data, dim }, valid, skipped: [...emb.invalid].map(([i, reason]) => ({ name: sources[i]!.name, reason })) };
}

export async function inspectSources(embedder: Embedder, entries: InspectSource[], pool: ImageSource[], opts: InspectOptions): Promise<InspectReport> {
  const t0 = performance.now();
  // Bad options and a single class are refused before any image is embedded or decoded.
  checkInspect(entries.map((e) => e.label), opts);
  const labelled = await embedPlain(embedder, entries.map((e) => e.source), opts);
  const items: InspectEntry[] = labelled.valid.map((i) => ({ name: entries[i]!.source.name, label: entries[i]!.label, split: entries[i]!.split, hash: entries[i]!.source.hash }));
  const threshold = opts.nearDuplicateThreshold;
  const nearPairs = await nearCopies(normalizeRows(labelled.rows), labelled.rows.dim, items.map((e) => e.hash), (r) => entries[labelled.valid[r]!]!.source.load(), {
    ...(threshold !== undefined ? { threshold } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const unlabelled = pool.length ? await embedPlain(embedder, pool, opts) : null;
  const report = inspectEmbeddings(
    {
      items,
      rows: labelled.rows,
      nearPairs,
      ...(unlabelled ? { pool: { entries: unlabelled.valid.map((i) => ({ name: pool[i]!.name, label: '', split: 'pool' as const, hash: pool[i]!.hash })), rows: unlabelled.rows } } : {}),
      skipped: [...labelled.skipped, ...(unlabelled?.skipped ?? [])],
    },
    opts,
  );
  // Indices name the caller's lists (the engine's examples, the pool as given), not the decodable subset.
  const remap = (it: InspectItem) => {
    it.index = it.split === 'pool' ? unlabelled!.valid[it.index]! : labelled.valid[it.index]!;
    const id = it.split === 'pool' ? undefined : entries[it.index]!.id;
    if (id !== undefined) it.id = id;
  };
  report.duplicates.forEach((g) => g.items.forEach(remap));
  report.labelIssues.forEach((x) => remap(x.item));
  report.outliers.forEach((x) => remap(x.item));
  report.labelNext?.forEach((x) => remap(x.item));
  return { ...report, ms: performance.now() - t0 };
}
