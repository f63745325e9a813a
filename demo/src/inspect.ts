// "Check your data": clf.inspect() in the worker, its findings as thumbnails
// a person acts on (move to the suggested class, remove, keep one copy), and
// a pool of unlabelled photos ranked for labelling.
import type { InspectItem, InspectReport } from 'edgetune';
import { announce, app, escapeHtml, setStatus, state, ui } from './app.js';
import { addToBoth, ensureClass, reloadExamples } from './classes.js';
import * as store from './store.js';

/** Each list shows at most this many: the most likely problems come first. */
const SHOWN = 24;
let urls: string[] = [];

const progress = (what: string) => (p: { phase: string; done?: number; total?: number }) => {
  if (p.phase === 'embed') setStatus(`${what}: features ${p.done}/${p.total}`);
};

export async function checkData(): Promise<void> {
  // The previous findings go first: their buttons name examples this check may report differently.
  ui.dataReport.replaceChildren();
  setStatus('Checking your examples…');
  const report = await app.clf.inspect({ onProgress: progress('Checking your examples') });
  await render(report);
  const n = report.labelIssues.length + report.duplicates.length + report.outliers.length;
  const text = `Checked ${report.n} examples in ${(report.ms / 1000).toFixed(1)} s: ${n ? `${n} thing${n === 1 ? '' : 's'} to look at` : 'nothing to fix'}.`;
  setStatus(text);
  announce(text);
}

/** Unlabelled photos, most useful to label first; each can be added to a class from here. */
export async function rankPool(files: File[]): Promise<void> {
  if (!files.length) return;
  ui.dataReport.replaceChildren();
  setStatus(`Ranking ${files.length} photos…`);
  const report = await app.clf.inspect({ pool: files, onProgress: progress('Ranking photos') });
  await render(report);
  const list = section(`Label these first (${report.labelNext?.length ?? 0} photos, the model's least sure first)`, 'label-next');
  for (const { item, margin } of (report.labelNext ?? []).slice(0, SHOWN)) {
    const file = files[item.index]!;
    const fig = figure(file, `${escapeHtml(file.name)}<br>margin ${margin.toFixed(2)}`);
    const pick = document.createElement('select');
    pick.setAttribute('aria-label', `Class for ${file.name}`);
    pick.append(...state.classes.map((c) => new Option(c, c)));
    fig.append(pick, action('Add', `${file.name} to the chosen class`, async () => {
      await addToBoth(pick.value, [file]);
      await reloadExamples();
      fig.remove();
      setStatus(`Added ${file.name} to '${pick.value}'. Train again to use it.`);
    }));
    list.grid.append(fig);
  }
  setStatus(`Ranked ${report.labelNext?.length ?? 0} photos: label the first ones.`);
}

async function render(r: InspectReport): Promise<void> {
  urls.forEach((u) => URL.revokeObjectURL(u));
  urls = [];
  ui.dataReport.replaceChildren();
  const summary = document.createElement('p');
  summary.className = 'summary';
  summary.textContent = `A model trained without each example still gets ${(r.oofAccuracy * 100).toFixed(0)}% of them right.`;
  ui.dataReport.append(summary);

  const labels = section(`Likely wrong labels (${r.labelIssues.length})`, 'label-issues');
  for (const issue of r.labelIssues.slice(0, SHOWN)) {
    const fig = await exampleFigure(issue.item, `filed as <b>${escapeHtml(issue.item.label)}</b>, looks like <b>${escapeHtml(issue.suggested)}</b> (${(issue.suggestedProbability * 100).toFixed(0)}%)`);
    fig.append(
      action(`Move to ${issue.suggested}`, undefined, () => fix(fig, [issue.item], issue.suggested)),
      action('Remove', `Remove this ${issue.item.label} example`, () => fix(fig, [issue.item])),
    );
    labels.grid.append(fig);
  }
  const dups = section(`Duplicates (${r.duplicates.length} groups)`, 'duplicates');
  for (const g of r.duplicates.slice(0, SHOWN)) {
    const what = g.kind === 'exact' ? 'the same file' : `near copies (match ${g.similarity.toFixed(2)})`;
    const fig = await exampleFigure(g.items[0]!, `${g.items.length} × ${what}${g.crossSplit ? ', in training and validation' : ''}${g.conflictingLabels ? ', with different labels' : ''}`);
    fig.append(action('Keep one', `Remove ${g.items.length - 1} cop${g.items.length === 2 ? 'y' : 'ies'}`, () => fix(fig, g.items.slice(1))));
    dups.grid.append(fig);
  }
  const odd = section(`Unusual images (${r.outliers.length})`, 'outliers');
  for (const o of r.outliers.slice(0, SHOWN)) {
    const fig = await exampleFigure(o.item, `in <b>${escapeHtml(o.item.label)}</b>, ${o.ratio.toFixed(1)}× farther from every class than usual`);
    fig.append(action('Remove', `Remove this ${o.item.label} example`, () => fix(fig, [o.item])));
    odd.grid.append(fig);
  }
  const advice = document.createElement('ul');
  advice.className = 'advice';
  for (const c of r.classes) {
    const li = document.createElement('li');
    li.textContent = `${c.label}: ${c.examples} examples, ${(c.recall * 100).toFixed(0)}% recognised by a model that did not see them` + (c.suggestedMore ? `; add about ${c.suggestedMore} more` : '; enough for now');
    advice.append(li);
  }
  for (const p of r.confusablePairs) {
    const li = document.createElement('li');
    li.textContent = `${p.a} and ${p.b} get confused (${(p.aAsB * 100).toFixed(0)}% and ${(p.bAsA * 100).toFixed(0)}%): add examples that tell them apart`;
    advice.append(li);
  }
  section('What to add next', 'advice').grid.replaceWith(advice);
}

/** Removes (no `to`) or relabels examples in the worker and in the store, then drops the card. */
async function fix(fig: HTMLElement, items: InspectItem[], to?: string): Promise<void> {
  const ids = items.map((i) => i.id!);
  const records = items.map((i) => Number(i.name));
  if (to === undefined) await app.clf.removeExamples(ids);
  else {
    await ensureClass(to);
    await app.clf.relabelExamples(ids, to);
  }
  await store.editExamples(records, to);
  await reloadExamples();
  fig.remove();
  const text = `${to === undefined ? 'Removed' : `Moved to '${to}':`} ${items.length} example${items.length === 1 ? '' : 's'}. Train again to use the fix.`;
  setStatus(text);
  announce(text);
}

function section(title: string, cls: string): { grid: HTMLElement } {
  const wrap = document.createElement('div');
  wrap.className = `findings ${cls}`;
  const h = document.createElement('h3');
  h.textContent = title;
  const grid = document.createElement('div');
  grid.className = 'mistake-grid';
  wrap.append(h, grid);
  ui.dataReport.append(wrap);
  return { grid };
}

async function exampleFigure(item: InspectItem, caption: string): Promise<HTMLElement> {
  const record = await store.getExample(Number(item.name));
  const fig = figure(record?.blob, caption);
  fig.dataset.id = String(item.id);
  return fig;
}

function figure(blob: Blob | undefined, caption: string): HTMLElement {
  const fig = document.createElement('figure');
  fig.className = 'finding';
  const img = document.createElement('img');
  img.alt = '';
  if (blob) {
    img.src = URL.createObjectURL(blob);
    urls.push(img.src);
  }
  const cap = document.createElement('figcaption');
  cap.innerHTML = caption;
  fig.append(img, cap);
  return fig;
}

function action(text: string, label: string | undefined, run: () => Promise<void>): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  // The visible text starts the accessible name (WCAG 2.5.3), the rest says which image.
  if (label) b.setAttribute('aria-label', `${text}: ${label}`);
  b.addEventListener('click', () => {
    b.disabled = true;
    run().catch((err: Error) => {
      b.disabled = false;
      setStatus(`Fix failed: ${err.message}`, true);
    });
  });
  return b;
}
