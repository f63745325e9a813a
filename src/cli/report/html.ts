// report.html: one self-contained page (inline SVG and CSS, thumbnails as data
// URIs, no script, no request) with what a training run produced: curves per
// stage, the confusion matrix, per-class metrics and the test images it got wrong.
import type { BackendInfo, EpochLog, EvaluationReport, InspectReport, TrainingReport } from '../../types.js';
import { dataSection, type Thumbnails } from './data-section.js';
import { stagesOf, type TestPrediction } from './csv.js';

export interface ReportInput {
  data: string;
  model: string;
  backend: BackendInfo;
  runtime: string;
  backbone: string;
  report: TrainingReport;
  test?: EvaluationReport;
  /** Misclassified test images, with a JPEG data URI each. */
  wrong: (TestPrediction & { thumbnail: string })[];
  /** What inspect found in the data, with thumbnails of the images it names. */
  inspect?: { report: InspectReport; thumbnails: Thumbnails };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/**
 * A class name as text that reads as written: bidi controls (a right-to-left
 * override would show it reversed) made visible, the name isolated from its neighbours.
 */
const labelHtml = (s: string) => `<bdi>${esc(s.replace(/[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `[U+${c.charCodeAt(0).toString(16).toUpperCase()}]`))}</bdi>`;
const pct = (v: number | undefined) => (v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
const COLORS = { train: '#2563eb', val: '#dc2626' };

/** A line chart of one metric over the epochs of one stage, train and validation, the selected epoch marked. */
function lineChart(title: string, logs: EpochLog[], metric: 'loss' | 'accuracy', selected?: number): string {
  const [w, h, pad] = [320, 180, 32];
  const series = [
    { name: 'train', color: COLORS.train, values: logs.map((l) => l[metric]) },
    { name: 'val', color: COLORS.val, values: logs.map((l) => (metric === 'loss' ? l.valLoss : l.valAccuracy)) },
  ].filter((s) => s.values.some((v) => v !== undefined));
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  const [lo, hi] = metric === 'accuracy' ? [0, 1] : [Math.min(0, ...all), Math.max(...all, 1e-6)];
  const n = Math.max(2, logs.length);
  const px = (i: number) => pad + (i * (w - 2 * pad)) / (n - 1);
  const py = (v: number) => h - pad - ((v - lo) / (hi - lo || 1)) * (h - 2 * pad);
  const lines = series.map((s) => {
    const pts = s.values.flatMap((v, i) => (v === undefined ? [] : [`${px(i).toFixed(1)},${py(v).toFixed(1)}`]));
    return `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(' ')}"><title>${s.name} ${metric}</title></polyline>`;
  });
  const sel = selected ? logs.findIndex((l) => l.epoch === selected) : -1;
  const mark = sel >= 0 ? `<line class="selected-epoch" x1="${px(sel)}" x2="${px(sel)}" y1="${pad}" y2="${h - pad}" stroke="#16a34a" stroke-dasharray="4 3"><title>selected epoch ${selected}</title></line>` : '';
  const legend = series.map((s, i) => `<text x="${w - pad - 90 + i * 45}" y="14" fill="${s.color}" font-size="11">${s.name}</text>`).join('');
  return `<svg class="chart" role="img" aria-label="${esc(title)}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">
<text x="${pad}" y="14" font-size="12" font-weight="600">${esc(title)}</text>${legend}
<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#999"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="#999"/>
<text x="4" y="${pad + 4}" font-size="10">${hi.toFixed(2)}</text><text x="4" y="${h - pad}" font-size="10">${lo.toFixed(2)}</text>
<text x="${pad}" y="${h - 8}" font-size="10">epoch 1</text><text x="${w - pad - 30}" y="${h - 8}" font-size="10">${logs.length}</text>
${mark}${lines.join('')}</svg>`;
}

function curves(report: TrainingReport): string {
  const stages = new Map<string, EpochLog[]>();
  for (const { stage, log } of stagesOf(report)) (stages.get(stage) ?? stages.set(stage, []).get(stage)!).push(log);
  const selectedOf = (stage: string) => (stage === 'select' ? report.bestEpoch : stage === 'partial' ? report.partial?.bestEpoch : undefined);
  return [...stages]
    .map(([stage, logs]) => `<div class="stage"><h3>${esc(stage)} (${logs.length} epochs)</h3>${lineChart(`${stage}: loss`, logs, 'loss', selectedOf(stage))}${lineChart(`${stage}: accuracy`, logs, 'accuracy', selectedOf(stage))}</div>`)
    .join('');
}

/** The confusion matrix as a table shaded by each row's share (recall per cell). */
function confusion(test: EvaluationReport): string {
  const head = `<tr><th>true \\ predicted</th>${test.labels.map((l) => `<th>${labelHtml(l)}</th>`).join('')}</tr>`;
  const rows = test.confusion.map((r, i) => {
    const total = r.reduce((a, b) => a + b, 0) || 1;
    const cells = r.map((c, j) => {
      const share = c / total;
      const color = i === j ? `rgba(22,163,74,${share})` : `rgba(220,38,38,${share})`;
      return `<td style="background:${color}" title="${c} of ${total}">${c}</td>`;
    });
    return `<tr><th>${labelHtml(test.labels[i]!)}</th>${cells.join('')}</tr>`;
  });
  return `<table id="confusion" class="heat">${head}${rows.join('')}</table>`;
}

function perClass(test: EvaluationReport): string {
  const rows = test.perClass.map((c) => `<tr><td>${labelHtml(c.label)}</td><td>${c.precision.toFixed(2)}</td><td>${c.recall.toFixed(2)}</td><td>${c.f1.toFixed(2)}</td><td>${c.support}</td></tr>`);
  return `<table id="per-class"><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>n</th></tr>${rows.join('')}</table>`;
}

function wrongGallery(wrong: ReportInput['wrong']): string {
  if (!wrong.length) return '<p>No test image was misclassified.</p>';
  const items = wrong.map(
    (w) =>
      `<figure class="wrong"><img src="${w.thumbnail}" alt="${esc(w.path)}" width="112" height="112"><figcaption><b>${labelHtml(w.top[0]!.label)}</b> ${pct(w.top[0]!.probability)}<br>true: ${labelHtml(w.label)}<br><small>${esc(w.path.split(/[/\\]/).slice(-2).join('/'))}</small></figcaption></figure>`,
  );
  return `<div id="wrong">${items.join('')}</div>`;
}

function configTable(input: ReportInput): string {
  const { report } = input;
  const entries: [string, string][] = [
    ['data', input.data],
    ['model', input.model],
    ['backbone', `${input.backbone} (forward pass on ${input.runtime})`],
    ['backend', `${input.backend.name} ${JSON.stringify(input.backend.details)}`],
    ['strategy', report.strategy],
    ['images', `${report.trainCount} train, ${report.validationCount} validation${input.test ? `, ${input.test.n} test` : ''}`],
    ['timing', `embedding ${(report.embedMs / 1000).toFixed(1)} s, training ${(report.trainMs / 1000).toFixed(1)} s`],
    ['cache', `${report.embeddingsComputed} backbone passes, ${report.cacheHits} cached`],
    ['config', JSON.stringify(report.config)],
  ];
  return `<table id="config">${entries.map(([k, v]) => `<tr><th>${k}</th><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

export function renderReport(input: ReportInput): string {
  const { report, test } = input;
  const summary = test ? `Test accuracy <b>${pct(test.accuracy)}</b> on ${test.n} images` : `Best validation accuracy <b>${pct(report.bestValAccuracy)}</b>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>edgetune report: ${esc(input.model)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;max-width:1100px;color:#111}h1{font-size:20px}h2{margin-top:28px;font-size:16px}
table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}.heat td{text-align:center;min-width:36px}
.stage{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}.stage h3{width:100%;margin:12px 0 0;font-size:14px}
#wrong,.gallery{display:flex;flex-wrap:wrap;gap:10px}.wrong{margin:0;width:120px;font-size:12px}.wrong img{object-fit:cover;border:2px solid #dc2626}
.wrong small,.wrong figcaption,th,td{overflow-wrap:anywhere}#config td{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}</style></head>
<body><h1>edgetune training report</h1><p>${summary}; ${report.labels.length} classes.</p>
<h2>Run</h2>${configTable(input)}
<h2>Curves</h2><div id="curves">${curves(report)}</div>
${test ? `<h2>Confusion matrix (test)</h2>${confusion(test)}<h2>Per class (test)</h2>${perClass(test)}<h2>What it got wrong (test)</h2>${wrongGallery(input.wrong)}` : '<p>No test split: no confusion matrix or misclassified images.</p>'}${input.inspect ? dataSection(input.inspect.report, input.inspect.thumbnails) : ''}
</body></html>
`;
}
