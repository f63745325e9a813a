// edgetune inspect <data>: what is wrong with an ImageFolder and what to add
// next. Every split is inspected together (a duplicate across train and test is
// the finding that matters most); embeddings come from the cache the other
// commands share, so a second run makes no backbone pass.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { EdgetuneError } from '../errors.js';
import type { ImageSource } from '../engine/data/examples.js';
import type { InspectSource } from '../engine/inspect/run.js';
import { fileSource } from '../node/files.js';
import type { InspectReport, InspectSplit } from '../types.js';
import { collectImages, engineFor, sourcesOf, type EngineArgs, type Output } from './commands.js';
import { terminalSafe } from './guards.js';
import { readImageFolder } from './imagefolder.js';
import type { Engine } from '../engine/engine.js';

export interface InspectArgs extends EngineArgs {
  data: string;
  pool?: string;
  threshold?: number;
  folds?: number;
  cacheDir?: string;
  noCache?: boolean;
  strict: boolean;
}

/** Embeddings depend only on the image bytes and the backbone: one cache serves every dataset. */
export function defaultCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'edgetune', 'embeddings');
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

/** The report for people: the findings, most important first, at most `limit` lines each. */
export function formatInspect(r: InspectReport, limit = 15): string[] {
  const lines = [`inspected ${r.n} images in ${(r.ms / 1000).toFixed(1)} s; out-of-fold accuracy ${pct(r.oofAccuracy)}`];
  const cross = r.duplicates.filter((g) => g.crossSplit);
  lines.push('', `duplicates: ${r.duplicates.length} groups (${r.duplicates.filter((g) => g.kind === 'exact').length} exact), ${cross.length} across splits`);
  for (const g of [...cross, ...r.duplicates.filter((g) => !g.crossSplit)].slice(0, limit)) {
    lines.push(`  ${g.kind}${g.crossSplit ? ', across splits' : ''}${g.conflictingLabels ? ', different labels' : ''}: ${g.items.map((i) => `${terminalSafe(i.name)} [${i.split}/${terminalSafe(i.label)}]`).join('  ')}`);
  }
  lines.push('', `likely label errors: ${r.labelIssues.length}`);
  for (const x of r.labelIssues.slice(0, limit)) lines.push(`  ${terminalSafe(x.item.name)}: labelled ${terminalSafe(x.item.label)} (${pct(x.givenProbability)}), looks like ${terminalSafe(x.suggested)} (${pct(x.suggestedProbability)})`);
  lines.push('', `outliers (far from every class): ${r.outliers.length}`);
  for (const o of r.outliers.slice(0, limit)) lines.push(`  ${terminalSafe(o.item.name)} [${terminalSafe(o.item.label)}]: ${o.ratio.toFixed(1)}x the usual distance`);
  lines.push('', 'confusable classes:');
  for (const p of r.confusablePairs.slice(0, limit)) lines.push(`  ${terminalSafe(p.a)} / ${terminalSafe(p.b)}: ${pct(p.aAsB)} of ${terminalSafe(p.a)} taken for ${terminalSafe(p.b)}, ${pct(p.bAsA)} the other way`);
  if (!r.confusablePairs.length) lines.push('  none above 5%');
  lines.push('', 'per class (examples, out-of-fold recall, more suggested):');
  for (const c of r.classes) lines.push(`  ${terminalSafe(c.label)}: ${c.examples}, ${pct(c.recall)}${c.suggestedMore ? `, add ~${c.suggestedMore}` : ''}`);
  if (r.labelNext) {
    lines.push('', `label next (of ${r.labelNext.length} unlabelled):`);
    for (const x of r.labelNext.slice(0, limit)) lines.push(`  ${terminalSafe(x.item.name)} (margin ${x.margin.toFixed(2)})`);
  }
  return lines;
}

/**
 * During `train`: inspects every split (the examples trained on and the test
 * samples evaluated, their files not read again) with the embeddings just cached,
 * warns about images that appear in two splits (they inflate the test score), and
 * returns the report for report.html. A failure here never fails the training.
 */
export async function inspectForTrain(engine: Engine, entries: InspectSource[], out: Output): Promise<InspectReport | undefined> {
  try {
    const report = await engine.inspectSources(entries, [], {});
    const cross = report.duplicates.filter((g) => g.crossSplit);
    if (cross.length) {
      const first = cross[0]!.items.map((i) => `${terminalSafe(i.name)} (${i.split})`).join(' = ');
      out.warn(`${cross.length} duplicate group${cross.length > 1 ? 's span' : ' spans'} two splits, which inflates the test score (first: ${first}); see report.html or edgetune inspect`);
    }
    return report;
  } catch (err) {
    out.warn(`the data inspection was skipped: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

export async function inspectCmd(args: InspectArgs, out: Output): Promise<void> {
  const folder = await readImageFolder(args.data);
  const poolFiles = args.pool ? await collectImages([args.pool]) : [];
  if (args.pool && !poolFiles.length) throw new EdgetuneError('INVALID_DATASET', `${args.pool}: no images to rank`);
  const engine = await engineFor(args, args.noCache ? undefined : resolve(args.cacheDir ?? defaultCacheDir()), out);
  try {
    const entries: InspectSource[] = [];
    const skipped: { name: string; reason: string }[] = [];
    const splits: [InspectSplit, typeof folder.train | undefined][] = [['train', folder.train], ['val', folder.val], ['test', folder.test]];
    for (const [split, classes] of splits) {
      if (!classes) continue;
      for (const { label, sources } of await sourcesOf(classes, args.strict, out, skipped)) for (const source of sources) entries.push({ label, source, split });
    }
    const pool: ImageSource[] = [];
    for (const f of poolFiles) {
      try {
        pool.push(await fileSource(f));
      } catch (err) {
        if (args.strict || !(err instanceof EdgetuneError && err.code === 'INVALID_IMAGE')) throw err;
        out.warn(`skipping ${terminalSafe(err.message)}`);
      }
    }
    const report = await engine.inspectSources(entries, pool, {
      ...(args.threshold !== undefined ? { nearDuplicateThreshold: args.threshold } : {}),
      ...(args.folds !== undefined ? { folds: args.folds } : {}),
    });
    if (skipped.length) report.skipped = [...skipped, ...(report.skipped ?? [])];
    if (!out.json) for (const line of formatInspect(report)) out.print(line);
    out.result(report);
  } finally {
    await engine.dispose();
  }
}
