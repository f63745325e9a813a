// report.html's "Data" section: what `edgetune inspect` finds in the training
// data (duplicates across splits, likely label errors with thumbnails,
// outliers, confusable classes), so a run's report says when its test score
// is inflated or its labels are suspect.
import type { InspectReport } from '../../types.js';

export type Thumbnails = Map<string, string>;

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
const short = (path: string) => esc(path.split(/[/\\]/).slice(-2).join('/'));

/** Files whose thumbnails the section shows. */
export function thumbnailPaths(r: InspectReport, limit = 12): string[] {
  return [...r.labelIssues.slice(0, limit).map((x) => x.item.name), ...r.outliers.slice(0, limit).map((x) => x.item.name)];
}

function figure(path: string, caption: string, thumbs: Thumbnails): string {
  return `<figure class="wrong"><img src="${thumbs.get(path) ?? ''}" alt="${esc(path)}" width="112" height="112"><figcaption>${caption}<br><small>${short(path)}</small></figcaption></figure>`;
}

export function dataSection(r: InspectReport, thumbs: Thumbnails, limit = 12): string {
  const cross = r.duplicates.filter((g) => g.crossSplit);
  const dupList = cross.length
    ? `<ul>${cross.slice(0, limit).map((g) => `<li>${g.kind}: ${g.items.map((i) => `${short(i.name)} (${esc(i.split)})`).join(', ')}</li>`).join('')}</ul>`
    : '<p>No image appears in two splits.</p>';
  const issues = r.labelIssues.length
    ? `<div id="issues" class="gallery">${r.labelIssues.slice(0, limit).map((x) => figure(x.item.name, `labelled <b>${esc(x.item.label)}</b> ${pct(x.givenProbability)}<br>looks like <b>${esc(x.suggested)}</b> ${pct(x.suggestedProbability)}`, thumbs)).join('')}</div>`
    : '<p>No likely label error.</p>';
  const outliers = r.outliers.length ? `<div class="gallery">${r.outliers.slice(0, limit).map((o) => figure(o.item.name, `${esc(o.item.label)}: ${o.ratio.toFixed(1)}x the usual distance`, thumbs)).join('')}</div>` : '<p>No outlier.</p>';
  const pairs = r.confusablePairs.length ? `<ul>${r.confusablePairs.slice(0, limit).map((p) => `<li>${esc(p.a)} / ${esc(p.b)}: ${pct(p.aAsB)} and ${pct(p.bAsA)}</li>`).join('')}</ul>` : '<p>No pair of classes above 5% confusion.</p>';
  return `<h2>Data (edgetune inspect)</h2><p>${r.n} images, out-of-fold accuracy ${pct(r.oofAccuracy)}; ${r.duplicates.length} duplicate groups, ${r.labelIssues.length} likely label errors, ${r.outliers.length} outliers.</p>
<h3>Duplicates across splits</h3>${dupList}<h3>Likely label errors</h3>${issues}<h3>Outliers</h3>${outliers}<h3>Confusable classes</h3>${pairs}`;
}
