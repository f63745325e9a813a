// Prediction (live on the camera, on a dropped file) and evaluation tables.
import { announce, app, camera, canPredict, escapeHtml, explain, setStatus, state, ui } from './app.js';

export function renderBars(target: HTMLElement, preds: { label: string; probability: number }[]): void {
  target.replaceChildren(
    ...preds.map((p, i) => {
      const row = document.createElement('div');
      row.className = `bar${i === 0 ? ' top' : ''}`;
      row.dataset.label = p.label;
      row.innerHTML = `<span></span><div class="track" role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${Math.round(p.probability * 100)}"><div class="fill"></div></div><span>${(p.probability * 100).toFixed(0)}%</span>`;
      row.querySelector('span')!.textContent = p.label;
      // The meter is named by its class, so a screen reader says "stripes, 87 percent".
      row.querySelector('.track')!.setAttribute('aria-label', p.label);
      (row.querySelector('.fill') as HTMLElement).style.width = `${(p.probability * 100).toFixed(1)}%`;
      return row;
    }),
  );
}

let looping = false;
/**
 * Predicts on camera frames back to back (one in flight) while enabled and idle:
 * from the trained model, or before training from class prototypes (marked as such).
 */
export async function liveLoop(): Promise<void> {
  if (looping) return;
  looping = true;
  try {
    while (camera.running && canPredict() && !state.training && !state.capturing && ui.live.checked) {
      const top = await app.clf.predict(ui.video, { topK: 5 });
      renderBars(ui.prediction, top);
      const best = top[0];
      // Said when the answer changes, at most every 3 s: a live loop answers several times a second.
      if (best && best.label !== ui.prediction.dataset.top) announce(`The camera shows ${best.label}, ${(best.probability * 100).toFixed(0)}%`, 'prediction', 3000);
      ui.prediction.dataset.top = best?.label ?? '';
      ui.prediction.dataset.basis = best?.basis ?? 'model';
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    setStatus(`Live prediction stopped: ${explain(err)}`, true);
  } finally {
    looping = false;
  }
}

let fileUrl = '';

/** The photo beside its answer, so a person sees what was classified. */
export async function predictFile(file: File): Promise<void> {
  if (!state.trained) throw new Error('train or import a model first');
  const top = await app.clf.predict(file, { topK: 5 });
  URL.revokeObjectURL(fileUrl);
  fileUrl = URL.createObjectURL(file);
  const result = document.createElement('div');
  result.className = 'file-result';
  const img = Object.assign(document.createElement('img'), { src: fileUrl, alt: file.name ? `The photo classified: ${file.name}` : 'The photo classified' });
  const bars = document.createElement('div');
  bars.className = 'bars';
  renderBars(bars, top);
  result.append(img, bars);
  ui.filePrediction.replaceChildren(result);
  if (top[0]) announce(`${file.name || 'The photo'}: ${top[0].label}, ${(top[0].probability * 100).toFixed(0)}%`);
}

export async function evaluate(samples: { label: string; image: Blob }[], title: string): Promise<void> {
  const report = await app.clf.evaluate(samples);
  const t = document.createElement('table');
  // It scrolls sideways on a phone: focusable, so the keyboard can scroll it too.
  t.tabIndex = 0;
  const head = report.labels.map((l) => `<th scope="col">${escapeHtml(l)}</th>`).join('');
  t.innerHTML =
    `<caption>${escapeHtml(title)}: accuracy ${(report.accuracy * 100).toFixed(1)}% on ${report.n} images (rows: true class, columns: predicted)</caption>` +
    `<thead><tr><th scope="col">class</th><th scope="col">recall</th>${head}</tr></thead><tbody>` +
    report.labels
      .map(
        (l, i) =>
          `<tr><th scope="row">${escapeHtml(l)}</th><td>${(report.perClass[i]!.recall * 100).toFixed(0)}%</td>` +
          report.confusion[i]!.map((n, j) => `<td${i === j ? ' class="diag"' : ''}>${n}</td>`).join('') +
          '</tr>',
      )
      .join('') +
    '</tbody>';
  ui.evaluation.replaceChildren(t, await mistakes(samples));
}

/** The most confident mistakes first: what a person wants to look at after the numbers. */
const MAX_MISTAKES = 48;
let thumbnailUrls: string[] = [];

/** "What it got wrong": each misclassified image with its predicted and true label. */
async function mistakes(samples: { label: string; image: Blob }[]): Promise<HTMLElement> {
  thumbnailUrls.forEach((u) => URL.revokeObjectURL(u));
  thumbnailUrls = [];
  const wrong: { sample: (typeof samples)[number]; label: string; probability: number }[] = [];
  // Served from the embedding cache evaluate just filled: no second backbone pass.
  for (let i = 0; i < samples.length; i += 32) {
    const chunk = samples.slice(i, i + 32);
    const top = await app.clf.predictBatch(chunk.map((s) => s.image), { topK: 1 });
    chunk.forEach((sample, j) => top[j]![0]!.label !== sample.label && wrong.push({ sample, ...top[j]![0]! }));
  }
  wrong.sort((a, b) => b.probability - a.probability);
  const section = document.createElement('div');
  section.className = 'mistakes';
  section.innerHTML = `<h3>What it got wrong (${wrong.length} of ${samples.length})</h3>`;
  const grid = document.createElement('div');
  grid.className = 'mistake-grid';
  for (const w of wrong.slice(0, MAX_MISTAKES)) {
    const url = URL.createObjectURL(w.sample.image);
    thumbnailUrls.push(url);
    const fig = document.createElement('figure');
    fig.className = 'mistake';
    const name = w.sample.image instanceof File ? w.sample.image.name : '';
    fig.innerHTML = `<img alt="${escapeHtml(name || w.sample.label)}"><figcaption><b>${escapeHtml(w.label)}</b> ${(w.probability * 100).toFixed(0)}%<br>true: ${escapeHtml(w.sample.label)}</figcaption>`;
    fig.querySelector('img')!.src = url;
    grid.append(fig);
  }
  if (!wrong.length) grid.textContent = 'No image was misclassified.';
  section.append(grid);
  return section;
}
