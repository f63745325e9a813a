// Prediction (live on the camera, on a dropped file) and evaluation tables.
import { app, camera, canPredict, escapeHtml, explain, setStatus, state, ui } from './app.js';

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
      ui.prediction.dataset.top = top[0]?.label ?? '';
      ui.prediction.dataset.basis = top[0]?.basis ?? 'model';
      ui.prediction.setAttribute('aria-label', top[0]?.basis ? 'Live prediction (before training: nearest class average)' : 'Live prediction');
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    setStatus(`Live prediction stopped: ${explain(err)}`, true);
  } finally {
    looping = false;
  }
}

export async function predictFile(file: File): Promise<void> {
  if (!state.trained) throw new Error('train or import a model first');
  renderBars(ui.filePrediction, await app.clf.predict(file, { topK: 5 }));
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
