// inspect(): what is wrong with the data and what to add next, from one
// embedding per image (the cached ones training already computed). Pure
// computation over embeddings: the engine gathers them, the CLI, the worker and
// the demo present the report.
import { EdgetuneError } from '../../errors.js';
import type { DuplicateGroup, InspectItem, InspectOptions, InspectReport, InspectSplit } from '../../types.js';
import { classAdvice, confusablePairs, confusion, outliers } from './classes.js';
import { exactGroups, NEAR_DUPLICATE_THRESHOLD, nearGroups, similarPairs, type RawGroup } from './duplicates.js';
import { findLabelIssues } from './label-issues.js';
import { labelNext } from './label-next.js';
import { normalizeRows, outOfFold, type Rows } from './oof.js';

export interface InspectEntry {
  name: string;
  label: string;
  split: InspectSplit;
  /** Content hash: equal bytes, equal hash. */
  hash: string;
}

export interface InspectInput {
  /** Labelled images with an embedding each, in `rows` order. */
  items: InspectEntry[];
  rows: Rows;
  /** Unlabelled images to rank, with their embeddings. */
  pool?: { entries: InspectEntry[]; rows: Rows };
  skipped?: { name: string; reason: string }[];
  /** Near-duplicate pairs [a, b, similarity] already found (by pixels, near-copies.ts); without them, by embeddings alone. */
  nearPairs?: [number, number, number][];
}

/** The classes, threshold and folds of an inspection, or the error that refuses it (before any image is read). */
export function checkInspect(labels: string[], opts: Pick<InspectOptions, 'nearDuplicateThreshold' | 'folds'>): { names: string[]; threshold: number; folds: number } {
  const names = [...new Set(labels)];
  if (names.length < 2) throw new EdgetuneError('TOO_FEW_CLASSES', `inspect needs at least 2 classes with images, got ${names.length}`);
  const threshold = opts.nearDuplicateThreshold ?? NEAR_DUPLICATE_THRESHOLD;
  if (!(threshold > 0 && threshold <= 1)) throw new EdgetuneError('INVALID_ARGUMENT', `nearDuplicateThreshold must be in (0, 1], got ${String(threshold)}`);
  const folds = opts.folds ?? 5;
  if (!Number.isInteger(folds) || folds < 2 || folds > 20) throw new EdgetuneError('INVALID_ARGUMENT', `folds must be an integer from 2 to 20, got ${String(folds)}`);
  return { names, threshold, folds };
}

export function inspectEmbeddings(input: InspectInput, opts: Pick<InspectOptions, 'nearDuplicateThreshold' | 'folds' | 'seed'> = {}): Omit<InspectReport, 'ms'> {
  const { items, rows } = input;
  const { names, threshold, folds } = checkInspect(items.map((e) => e.label), opts);
  const labels = Int32Array.from(items, (e) => names.indexOf(e.label));
  const classes = names.length;
  const item = (index: number): InspectItem => ({ index, name: items[index]!.name, label: items[index]!.label, split: items[index]!.split });
  const unit = normalizeRows(rows);

  const hashes = items.map((e) => e.hash);
  const pairs = input.nearPairs ?? similarPairs(unit, rows.dim, threshold, hashes);
  const raw: RawGroup[] = [...exactGroups(hashes), ...nearGroups(items.length, pairs, hashes)];
  const duplicates: DuplicateGroup[] = raw.map((g) => ({
    kind: g.kind,
    items: g.members.map(item),
    similarity: g.similarity,
    crossSplit: new Set(g.members.map((i) => items[i]!.split)).size > 1,
    conflictingLabels: new Set(g.members.map((i) => items[i]!.label)).size > 1,
  }));

  const p = outOfFold(rows, labels, classes, folds, opts.seed ?? 42);
  const conf = confusion(p, labels, classes);
  const oofAccuracy = conf.reduce((a, row, c) => a + row[c]! * labels.filter((y) => y === c).length, 0) / items.length;
  const report: Omit<InspectReport, 'ms'> = {
    n: items.length,
    duplicates,
    labelIssues: findLabelIssues(p, labels, classes).map((f) => ({
      item: item(f.index),
      suggested: names[f.suggested]!,
      givenProbability: f.givenProbability,
      suggestedProbability: f.suggestedProbability,
      score: f.score,
    })),
    outliers: outliers(unit, rows.dim, labels, classes).map((o) => ({ item: item(o.index), distance: o.distance, ratio: o.ratio })),
    confusablePairs: confusablePairs(conf, names),
    classes: classAdvice(conf, labels, names),
    oofAccuracy,
    nearDuplicateThreshold: threshold,
    ...(input.skipped?.length ? { skipped: input.skipped } : {}),
  };
  if (input.pool) {
    const { entries, rows: poolRows } = input.pool;
    report.labelNext = labelNext(unit, labels, classes, normalizeRows(poolRows), rows.dim).map(({ index, margin }) => ({
      item: { index, name: entries[index]!.name, label: '', split: 'pool' },
      margin,
    }));
  }
  return report;
}
