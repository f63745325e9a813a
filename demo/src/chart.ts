// A small SVG line chart for per-epoch curves: a few dozen points do not need
// a charting library, and the demo stays dependency-free to copy.
export interface Series {
  name: string;
  color: string;
  values: (number | undefined)[];
  dashed?: boolean;
}

const W = 300;
const H = 140;
const PAD = { l: 30, r: 8, t: 18, b: 16 };
const NS = 'http://www.w3.org/2000/svg';

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Redraws `svg` with the series; `yMax` fixes the scale (e.g. 1 for accuracy). */
export function drawChart(svg: SVGSVGElement, series: Series[], yMax?: number): void {
  svg.replaceChildren();
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const top = yMax ?? Math.max(1e-6, ...all) * 1.1;
  const x = (i: number) => PAD.l + (i / (n - 1)) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (Math.min(v, top) / top) * (H - PAD.t - PAD.b);
  for (const f of [0, 0.5, 1]) {
    svg.append(el('line', { x1: PAD.l, x2: W - PAD.r, y1: y(top * f), y2: y(top * f), stroke: '#ddd' }));
    svg.append(el('text', { x: 2, y: y(top * f) + 4, 'font-size': 9, fill: '#4a4a4a' }, (top * f).toFixed(top * f >= 10 ? 0 : 2)));
  }
  svg.append(el('text', { x: W - PAD.r, y: H - 3, 'font-size': 9, fill: '#4a4a4a', 'text-anchor': 'end' }, `epoch ${Math.max(0, n - 1)}`));
  series.forEach((s, k) => {
    const pts = s.values.flatMap((v, i) => (v === undefined || !Number.isFinite(v) ? [] : [`${x(i).toFixed(1)},${y(v).toFixed(1)}`]));
    if (pts.length) {
      svg.append(el('polyline', { points: pts.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2, ...(s.dashed ? { 'stroke-dasharray': '4 3' } : {}) }));
    }
    svg.append(el('text', { x: PAD.l + k * 80, y: 11, class: 'legend', fill: s.color }, s.name));
  });
  svg.dataset.points = String(Math.max(0, ...series.map((s) => s.values.length)));
}

const pct = (v: number) => `${(v * 100).toFixed(0)}%`;

/** The charts in words (their text alternative): where training is, and its best validation epoch. */
export function curveSummary(c: { loss: number[]; acc: number[]; valAcc: (number | undefined)[] }): string {
  const n = c.loss.length;
  if (!n) return 'No epoch finished yet.';
  let best = -1;
  c.valAcc.forEach((v, i) => v !== undefined && (best < 0 || v > c.valAcc[best]!) && (best = i));
  const last = c.valAcc[n - 1];
  return (
    `${n} epoch${n === 1 ? '' : 's'}: training loss ${c.loss[n - 1]!.toFixed(3)}, training accuracy ${pct(c.acc[n - 1]!)}` +
    (best >= 0 ? `; best validation accuracy ${pct(c.valAcc[best]!)} at epoch ${best + 1}${last !== undefined ? `, last ${pct(last)}` : ''}.` : '; no validation split.')
  );
}
