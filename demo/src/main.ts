// The edgetune demo: classes from the camera or files, training with live
// charts, live prediction, evaluation, export/import, saved on the device.
// It uses only the package's public entry, as a host app would.
import { createClassifier, EdgetuneError, type Classifier, type TrainingReport } from 'edgetune';
import { Camera } from './camera.js';
import { drawChart } from './chart.js';
import { bindDrop, evaluationSet, imageFolder, pickedFiles, type DroppedFile } from './files.js';
import { downscaleImages } from './images.js';
import * as store from './store.js';

const MODEL_URL = 'indexeddb://edgetune-demo';
const CAPTURE_MS = 200; // 5 frames per second while the capture button is held
const THUMBS = 12;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  backend: $('backend'),
  status: $('status'),
  video: $<HTMLVideoElement>('video'),
  noCamera: $('no-camera'),
  cameraStart: $<HTMLButtonElement>('camera-start'),
  cameraSwitch: $<HTMLButtonElement>('camera-switch'),
  live: $<HTMLInputElement>('live'),
  prediction: $('prediction'),
  addClass: $<HTMLFormElement>('add-class'),
  newClass: $<HTMLInputElement>('new-class'),
  classes: $<HTMLUListElement>('classes'),
  drop: $('drop'),
  folderInput: $<HTMLInputElement>('folder-input'),
  strategy: $<HTMLSelectElement>('strategy'),
  epochs: $<HTMLInputElement>('epochs'),
  partialEpochsField: $('partial-epochs-field'),
  partialEpochs: $<HTMLInputElement>('partial-epochs'),
  augment: $<HTMLInputElement>('augment'),
  train: $<HTMLButtonElement>('train'),
  stop: $<HTMLButtonElement>('stop'),
  progress: $<HTMLProgressElement>('progress'),
  trainStatus: $('train-status'),
  chartLoss: document.getElementById('chart-loss') as unknown as SVGSVGElement,
  chartAcc: document.getElementById('chart-acc') as unknown as SVGSVGElement,
  predictDrop: $('predict-drop'),
  predictInput: $<HTMLInputElement>('predict-input'),
  filePrediction: $('file-prediction'),
  evaluate: $<HTMLButtonElement>('evaluate'),
  evalInput: $<HTMLInputElement>('eval-input'),
  evaluation: $('evaluation'),
  exportBtn: $<HTMLButtonElement>('export'),
  importInput: $<HTMLInputElement>('import-input'),
  reset: $<HTMLButtonElement>('reset'),
};

const state = {
  classes: [] as string[],
  counts: new Map<string, number>(),
  thumbs: new Map<string, string[]>(),
  trained: false,
  training: null as AbortController | null,
  /** Capture buttons held down: live prediction waits, so captures get the worker. */
  capturing: 0,
};

/** Before training, with two classes that have examples, the SDK answers from class prototypes (instant feedback). */
const canPredict = () => state.trained || state.classes.filter((c) => (state.counts.get(c) ?? 0) > 0).length >= 2;
let clf: Classifier;
const camera = new Camera(ui.video);

function setStatus(text: string, error = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', error);
}

function explain(err: unknown): string {
  return err instanceof EdgetuneError ? `${err.message} (${err.code})` : String((err as Error)?.message ?? err);
}

/** Runs an action, reporting failures in the status line instead of throwing. */
async function guarded(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    setStatus(`${what} failed: ${explain(err)}`, true);
  }
}

function setPhase(phase: 'loading' | 'ready' | 'training' | 'trained'): void {
  document.body.dataset.phase = phase;
  const enough = state.classes.filter((c) => (state.counts.get(c) ?? 0) > 0).length >= 2;
  ui.train.disabled = phase === 'loading' || phase === 'training' || !enough;
  ui.stop.disabled = phase !== 'training';
  ui.evaluate.disabled = ui.exportBtn.disabled = !state.trained || phase === 'training';
}
const refreshButtons = () => setPhase(state.training ? 'training' : state.trained ? 'trained' : 'ready');

// ---- classes -----------------------------------------------------------------

function renderClasses(): void {
  ui.classes.replaceChildren(
    ...state.classes.map((name) => {
      const li = document.createElement('li');
      li.className = 'class';
      li.dataset.label = name;
      const count = state.counts.get(name) ?? 0;
      li.innerHTML = `
        <div class="class-head">
          <label class="sr-only" for="name-${cssId(name)}">Class name</label>
          <input id="name-${cssId(name)}" class="rename" maxlength="100" autocomplete="off">
          <span class="count" aria-label="examples">${count} example${count === 1 ? '' : 's'}</span>
        </div>
        <div class="row">
          <button type="button" class="capture">Hold to capture</button>
          <label class="button">Add files… <input type="file" accept="image/*" multiple hidden class="files"></label>
          <button type="button" class="delete" aria-label="Delete class ${escapeHtml(name)}">Delete</button>
        </div>
        <div class="thumbs" aria-label="Examples of ${escapeHtml(name)}"></div>`;
      const input = li.querySelector<HTMLInputElement>('.rename')!;
      input.value = name;
      input.addEventListener('change', () => guarded('Rename', () => renameClass(name, input.value)));
      li.querySelector<HTMLElement>('.thumbs')!.append(
        ...(state.thumbs.get(name) ?? []).map((src) => Object.assign(document.createElement('img'), { src, alt: '' })),
      );
      bindCapture(li.querySelector<HTMLButtonElement>('.capture')!, name);
      li.querySelector<HTMLInputElement>('.files')!.addEventListener('change', (e) => {
        const files = [...((e.target as HTMLInputElement).files ?? [])];
        void guarded('Adding files', () => addFilesToClass(name, files));
      });
      li.querySelector<HTMLButtonElement>('.delete')!.addEventListener('click', () => guarded('Delete', () => deleteClass(name)));
      bindDrop(li, (files) => guarded('Adding files', () => addFilesToClass(name, files.map((f) => f.file))), failed('Adding files'));
      return li;
    }),
  );
  refreshButtons();
}

const cssId = (s: string) => [...s].map((c) => c.codePointAt(0)!.toString(16)).join('-');
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function ensureClass(name: string): Promise<void> {
  if (state.classes.includes(name)) return;
  state.classes.push(name);
  await store.saveClasses(state.classes);
}

/**
 * Stores images (downscaled JPEGs) for a class and hands them to the classifier.
 * Returns the files that could not be read; throws only when none could.
 */
async function addImages(label: string, files: Blob[], split?: 'val'): Promise<{ added: number; unreadable: string[] }> {
  if (!files.length) return { added: 0, unreadable: [] };
  const { images, unreadable } = await downscaleImages(files);
  const skipped = unreadable.map((u) => u.reason);
  if (!images.length) throw new Error(skipped.length === 1 ? skipped[0]! : `none of the ${files.length} files is a readable image (${skipped[0]})`);
  await ensureClass(label);
  await clf.addExamples(label, images, split ? { split } : {});
  await store.addExamples(label, images, split);
  noteExamples(label, images);
  renderClasses();
  return { added: images.length, unreadable: skipped };
}

/** "Add files…" and drops on a class card. */
async function addFilesToClass(label: string, files: File[]): Promise<void> {
  const { added, unreadable } = await addImages(label, files);
  if (added) setStatus(`Added ${added} image${added === 1 ? '' : 's'} to '${label}'${skippedNote(unreadable)}`, unreadable.length > 0);
}

const skippedNote = (unreadable: string[]) =>
  unreadable.length ? `; skipped ${unreadable.length} unreadable file${unreadable.length === 1 ? '' : 's'}: ${unreadable.slice(0, 3).join('; ')}${unreadable.length > 3 ? '; …' : ''}` : '';

function noteExamples(label: string, blobs: Blob[]): void {
  state.counts.set(label, (state.counts.get(label) ?? 0) + blobs.length);
  const thumbs = state.thumbs.get(label) ?? [];
  thumbs.push(...blobs.map((b) => URL.createObjectURL(b)));
  for (const old of thumbs.splice(0, Math.max(0, thumbs.length - THUMBS))) URL.revokeObjectURL(old);
  state.thumbs.set(label, thumbs);
}

async function renameClass(from: string, raw: string): Promise<void> {
  const to = raw.trim();
  if (!to || to === from) return renderClasses();
  if (state.classes.includes(to)) {
    setStatus(`A class named '${to}' already exists`, true);
    return renderClasses();
  }
  // The classifier keys examples by label: move them by removing and re-adding.
  await store.moveClass(from, to);
  await clf.removeClass(from);
  const moved = (await store.allExamples()).filter((e) => e.label === to);
  for (const split of ['train', 'val'] as const) {
    const blobs = moved.filter((e) => (e.split ?? 'train') === split).map((e) => e.blob);
    if (blobs.length) await clf.addExamples(to, blobs, { split });
  }
  state.classes = state.classes.map((c) => (c === from ? to : c));
  for (const m of [state.counts, state.thumbs] as Map<string, unknown>[]) {
    if (m.has(from)) m.set(to, m.get(from)), m.delete(from);
  }
  await store.saveClasses(state.classes);
  setStatus(`Renamed '${from}' to '${to}'. Train again to use the new name.`);
  renderClasses();
}

async function deleteClass(name: string): Promise<void> {
  await clf.removeClass(name);
  await store.moveClass(name);
  state.classes = state.classes.filter((c) => c !== name);
  state.counts.delete(name);
  state.thumbs.get(name)?.forEach((u) => URL.revokeObjectURL(u));
  state.thumbs.delete(name);
  await store.saveClasses(state.classes);
  renderClasses();
}

// ---- camera capture -------------------------------------------------------------

/** Capture while the button is held (pointer or Space/Enter), at a steady rate. */
function bindCapture(button: HTMLButtonElement, label: string): void {
  let timer: ReturnType<typeof setInterval> | null = null;
  let busy = false;
  const tick = async () => {
    if (busy || !camera.running) return;
    busy = true;
    try {
      const blob = await camera.capture();
      await clf.addExamples(label, [blob]);
      await store.addExamples(label, [blob]);
      noteExamples(label, [blob]);
      updateClassCard(label);
    } catch (err) {
      setStatus(`Capture failed: ${explain(err)}`, true);
    } finally {
      busy = false;
    }
  };
  const start = async () => {
    if (timer) return;
    if (!camera.running) await guarded('Camera', startCamera);
    if (!camera.running) return;
    await ensureClass(label);
    button.classList.add('capturing');
    button.setAttribute('aria-pressed', 'true');
    state.capturing++;
    void tick();
    timer = setInterval(tick, CAPTURE_MS);
  };
  const stop = () => {
    if (timer) {
      clearInterval(timer);
      state.capturing--;
    }
    timer = null;
    button.classList.remove('capturing');
    button.setAttribute('aria-pressed', 'false');
    refreshButtons();
    void liveLoop();
  };
  button.addEventListener('pointerdown', (e) => {
    button.setPointerCapture(e.pointerId);
    void start();
  });
  for (const ev of ['pointerup', 'pointercancel', 'lostpointercapture']) button.addEventListener(ev, stop);
  button.addEventListener('keydown', (e) => {
    if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) {
      e.preventDefault();
      void start();
    }
  });
  button.addEventListener('keyup', (e) => (e.key === ' ' || e.key === 'Enter') && stop());
  button.addEventListener('contextmenu', (e) => e.preventDefault());
}

/** Updates a card's count and thumbnails without re-rendering (keeps the held button's state). */
function updateClassCard(label: string): void {
  const li = [...ui.classes.children].find((c) => (c as HTMLElement).dataset.label === label);
  if (!li) return renderClasses();
  const n = state.counts.get(label) ?? 0;
  li.querySelector('.count')!.textContent = `${n} example${n === 1 ? '' : 's'}`;
  li.querySelector('.thumbs')!.replaceChildren(...(state.thumbs.get(label) ?? []).map((src) => Object.assign(document.createElement('img'), { src, alt: '' })));
}

async function startCamera(switchFacing = false): Promise<void> {
  await camera.start(switchFacing);
  ui.noCamera.hidden = true;
  ui.cameraStart.textContent = 'Stop camera';
  ui.cameraSwitch.disabled = !(await Camera.canSwitch());
  void liveLoop();
}

// ---- files and folders -------------------------------------------------------------

/** A reporter for failures outside `guarded` (drop handlers). */
const failed = (what: string) => (err: unknown) => setStatus(`${what} failed: ${explain(err)}`, true);

/**
 * Adds a dropped or picked ImageFolder: train/ (or a flat layout's class
 * folders) as training examples, val/ pinned to validation; test/ is left for
 * "Evaluate a folder…".
 */
async function addFolder(files: DroppedFile[]): Promise<void> {
  const { splits } = imageFolder(files);
  const parts = [...(splits.train ?? [])].map(([label, imgs]) => ({ label, imgs, split: undefined as 'val' | undefined }));
  parts.push(...[...(splits.val ?? [])].map(([label, imgs]) => ({ label, imgs, split: 'val' as const })));
  if (!parts.length) throw new Error('no images inside class folders (expected <class>/<image> or train/<class>/<image>)');
  let added = 0;
  const unreadable: string[] = [];
  for (const { label, imgs, split } of parts) {
    setStatus(`Adding ${imgs.length} images to '${label}'${split ? ' (validation)' : ''}…`);
    const r = await addImages(label, imgs, split).catch((err: Error) => ({ added: 0, unreadable: [err.message] }));
    added += r.added;
    unreadable.push(...r.unreadable);
  }
  if (!added) throw new Error(`no readable images (${unreadable[0]})`);
  const labels = new Set(parts.map((p) => p.label));
  const test = [...(splits.test?.values() ?? [])].reduce((n, g) => n + g.length, 0);
  setStatus(
    `Added ${added} images in ${labels.size} classes` +
      (test ? ` (${test} test images left for "Evaluate a folder…")` : '') +
      skippedNote(unreadable),
    unreadable.length > 0,
  );
}

// ---- training -----------------------------------------------------------------------

async function train(): Promise<void> {
  const controller = new AbortController();
  state.training = controller;
  setPhase('training');
  const curves = { loss: [] as number[], valLoss: [] as (number | undefined)[], acc: [] as number[], valAcc: [] as (number | undefined)[] };
  const redraw = () => {
    drawChart(ui.chartLoss, [
      { name: 'train', color: '#1b4d3e', values: curves.loss },
      { name: 'validation', color: '#b35900', values: curves.valLoss, dashed: true },
    ]);
    drawChart(ui.chartAcc, [
      { name: 'train', color: '#1b4d3e', values: curves.acc },
      { name: 'validation', color: '#b35900', values: curves.valAcc, dashed: true },
    ], 1);
  };
  redraw();
  try {
    const report: TrainingReport = await clf.fineTune({
      strategy: ui.strategy.value as 'head' | 'partial',
      epochs: clampInt(ui.epochs, 1, 500),
      ...(ui.strategy.value === 'partial' ? { partialEpochs: clampInt(ui.partialEpochs, 1, 200) } : {}),
      augment: clampInt(ui.augment, 0, 8),
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'embed') {
          ui.progress.value = 0.3 * (p.done / Math.max(1, p.total));
          ui.trainStatus.textContent = `Computing features: ${p.done}/${p.total} (${p.cacheHits} cached)`;
        } else if (p.phase === 'train') {
          ui.progress.value = 0.3 + 0.7 * (p.epoch / p.epochs);
          const stage = p.stage === 'refit' ? 'refit on all examples' : p.stage === 'partial' ? 'last blocks + head' : 'head';
          ui.trainStatus.textContent = `Epoch ${p.epoch}/${p.epochs} (${stage}): loss ${p.loss.toFixed(3)}, accuracy ${(p.accuracy * 100).toFixed(0)}%` +
            (p.valAccuracy !== undefined ? `, validation ${(p.valAccuracy * 100).toFixed(0)}%` : '');
          curves.loss.push(p.loss);
          curves.acc.push(p.accuracy);
          curves.valLoss.push(p.valLoss);
          curves.valAcc.push(p.valAccuracy);
          redraw();
        }
      },
    });
    ui.progress.value = 1;
    state.trained = true;
    await clf.save(MODEL_URL);
    ui.trainStatus.textContent =
      `Trained ${report.labels.length} classes on ${report.trainCount} examples in ${((report.embedMs + report.trainMs) / 1000).toFixed(1)} s` +
      (report.bestValAccuracy !== undefined ? `; validation accuracy ${(report.bestValAccuracy * 100).toFixed(0)}%` : '') +
      `. Saved on this device.`;
    setStatus(camera.running ? 'Trained: live prediction is on.' : 'Trained: start the camera or drop an image to try it.');
  } catch (err) {
    if (err instanceof EdgetuneError && err.code === 'ABORTED') ui.trainStatus.textContent = 'Stopped; the previous model is unchanged.';
    else throw err;
  } finally {
    state.training = null;
    refreshButtons();
    void liveLoop();
  }
}

function clampInt(input: HTMLInputElement, min: number, max: number): number {
  const v = Math.round(Number(input.value));
  const c = Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : min;
  input.value = String(c);
  return c;
}

// ---- prediction and evaluation ------------------------------------------------------------

function renderBars(target: HTMLElement, preds: { label: string; probability: number }[]): void {
  target.replaceChildren(
    ...preds.map((p, i) => {
      const row = document.createElement('div');
      row.className = `bar${i === 0 ? ' top' : ''}`;
      row.dataset.label = p.label;
      row.innerHTML = `<span></span><div class="track" role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${Math.round(p.probability * 100)}"><div class="fill"></div></div><span>${(p.probability * 100).toFixed(0)}%</span>`;
      row.querySelector('span')!.textContent = p.label;
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
async function liveLoop(): Promise<void> {
  if (looping) return;
  looping = true;
  try {
    while (camera.running && canPredict() && !state.training && !state.capturing && ui.live.checked) {
      const top = await clf.predict(ui.video, { topK: 5 });
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

async function predictFile(file: File): Promise<void> {
  if (!state.trained) throw new Error('train or import a model first');
  renderBars(ui.filePrediction, await clf.predict(file, { topK: 5 }));
}

async function evaluate(samples: { label: string; image: Blob }[], title: string): Promise<void> {
  const report = await clf.evaluate(samples);
  const t = document.createElement('table');
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
  ui.evaluation.replaceChildren(t);
}

// ---- export / import ------------------------------------------------------------------------

async function exportFiles(): Promise<void> {
  const files = await clf.export();
  for (const [name, bytes] of Object.entries(files)) {
    const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(new Blob([bytes as BlobPart])), download: name.replace(/\//g, '_') });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }
  setStatus(`Exported ${Object.keys(files).length} files: ${Object.keys(files).join(', ')}`);
}

async function importFiles(files: File[]): Promise<void> {
  const { labels } = await clf.import(files);
  state.trained = true;
  for (const l of labels) await ensureClass(l);
  await clf.save(MODEL_URL);
  setStatus(`Imported a model with classes ${labels.join(', ')}; saved on this device.`);
  renderClasses();
  void liveLoop();
}

// ---- start-up ---------------------------------------------------------------------------------

async function restore(): Promise<void> {
  state.classes = await store.loadClasses();
  const examples = await store.allExamples();
  const groups = new Map<string, { label: string; split?: 'val'; blobs: Blob[] }>();
  for (const e of examples) {
    const key = `${e.split ?? 'train'}/${e.label}`;
    (groups.get(key) ?? groups.set(key, { label: e.label, ...(e.split ? { split: e.split } : {}), blobs: [] }).get(key)!).blobs.push(e.blob);
  }
  for (const { label, split, blobs } of groups.values()) {
    if (!state.classes.includes(label)) state.classes.push(label);
    await clf.addExamples(label, blobs, split ? { split } : {});
    noteExamples(label, blobs);
  }
  try {
    await clf.load(MODEL_URL);
    state.trained = true;
  } catch (err) {
    // No saved model yet is the normal first visit.
    if (!(err instanceof EdgetuneError && err.code === 'MODEL_LOAD_FAILED')) throw err;
  }
  setStatus(
    examples.length
      ? `Restored ${state.classes.length} classes, ${examples.length} examples${state.trained ? ' and the trained model' : ''} from this device.`
      : 'Add at least two classes: hold “capture” with the camera on, or drop images.',
  );
}

async function main(): Promise<void> {
  setPhase('loading');
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js').catch((err) => console.warn('service worker not registered', err));
  }
  setStatus('Loading the model…');
  clf = await createClassifier({
    workerUrl: new URL('sdk/worker.js', location.href),
    modelBaseUrl: new URL('models/', location.href).href,
    wasmPaths: new URL('sdk/wasm/', location.href).href,
  });
  const b = clf.backend;
  const reasons = Object.entries(b.reasons).map(([k, v]) => `${k} skipped: ${v}`);
  const details = Object.entries(b.details).map(([k, v]) => `${k}: ${v}`);
  ui.backend.textContent = b.name === 'webgpu' ? 'WebGPU' : b.name.toUpperCase();
  ui.backend.title = [...details, ...reasons].join('\n') || `${b.name} was the first choice`;
  ui.backend.setAttribute('aria-label', `Backend ${ui.backend.textContent}. ${ui.backend.title}`);
  ui.backend.dataset.backend = b.name;
  await restore();
  renderClasses();

  ui.addClass.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = ui.newClass.value.trim();
    if (!name) return;
    void guarded('Add class', async () => {
      await ensureClass(name);
      ui.newClass.value = '';
      renderClasses();
    });
  });
  ui.cameraStart.addEventListener('click', () =>
    guarded('Camera', async () => {
      if (camera.running) {
        camera.stop();
        ui.noCamera.hidden = false;
        ui.cameraStart.textContent = 'Start camera';
      } else await startCamera();
    }),
  );
  ui.cameraSwitch.addEventListener('click', () => guarded('Camera', () => startCamera(true)));
  ui.live.addEventListener('change', () => void liveLoop());
  ui.strategy.addEventListener('change', () => (ui.partialEpochsField.hidden = ui.strategy.value !== 'partial'));
  ui.train.addEventListener('click', () => guarded('Training', train));
  ui.stop.addEventListener('click', () => state.training?.abort());
  bindDrop(ui.drop, (files) => guarded('Adding folder', () => addFolder(files)), failed('Adding folder'));
  const pick = (el: HTMLElement, input: HTMLInputElement) =>
    el.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), input.click()));
  pick(ui.drop, ui.folderInput);
  ui.drop.addEventListener('click', () => ui.folderInput.click());
  ui.folderInput.addEventListener('change', () => guarded('Adding folder', () => addFolder(pickedFiles(ui.folderInput.files))));
  bindDrop(ui.predictDrop, (files) => guarded('Prediction', async () => files[0] && predictFile(files[0].file)), failed('Prediction'));
  pick(ui.predictDrop, ui.predictInput);
  ui.predictDrop.addEventListener('click', () => ui.predictInput.click());
  ui.predictInput.addEventListener('change', () => guarded('Prediction', async () => ui.predictInput.files?.[0] && predictFile(ui.predictInput.files[0])));
  ui.evaluate.addEventListener('click', () =>
    guarded('Evaluation', async () => {
      const samples = (await store.allExamples()).map((e) => ({ label: e.label, image: e.blob }));
      await evaluate(samples, 'Your examples (seen in training: optimistic)');
    }),
  );
  ui.evalInput.addEventListener('change', () =>
    guarded('Evaluation', async () => {
      await evaluate(evaluationSet(pickedFiles(ui.evalInput.files)), 'Folder');
    }),
  );
  ui.exportBtn.addEventListener('click', () => guarded('Export', exportFiles));
  ui.importInput.addEventListener('change', () => guarded('Import', () => importFiles([...(ui.importInput.files ?? [])])));
  ui.reset.addEventListener('click', () =>
    guarded('Reset', async () => {
      if (!confirm('Delete every class, example and the saved model from this device?')) return;
      await clf.dispose();
      await store.clearAll();
      await new Promise((r) => Object.assign(indexedDB.deleteDatabase('edgetune'), { onsuccess: r, onerror: r, onblocked: r }));
      location.reload();
    }),
  );
  refreshButtons();
}

void main().catch((err) => {
  setStatus(`Could not start: ${explain(err)}`, true);
  document.body.dataset.phase = 'failed';
});
