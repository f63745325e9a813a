// The edgetune demo: classes from the camera or files, training with live
// charts, live prediction, evaluation, export/import, saved on the device.
// It uses only the package's public entry, as a host app would.
import { createClassifier, EdgetuneError } from 'edgetune';
import { app, camera, explain, touchFirst, failed, guarded, MODEL_URL, refreshButtons, setPhase, setStatus, state, ui } from './app.js';
import { addFolder, ensureClass, noteExamples, renderClasses, startCamera } from './classes.js';
import { bindDrop, evaluationSet, pickedFiles } from './files.js';
import { checkData, rankPool } from './inspect.js';
import { exportFiles, importFiles } from './model-files.js';
import { evaluate, liveLoop, predictFile } from './predict.js';
import * as store from './store.js';
import { showStrategy, strategyOptions, train } from './training.js';

async function restore(): Promise<void> {
  state.classes = await store.loadClasses();
  const examples = await store.allExamples();
  const groups = new Map<string, { label: string; split?: 'val'; blobs: Blob[]; names: string[] }>();
  for (const e of examples) {
    const key = `${e.split ?? 'train'}/${e.label}`;
    const group = groups.get(key) ?? groups.set(key, { label: e.label, ...(e.split ? { split: e.split } : {}), blobs: [], names: [] }).get(key)!;
    group.blobs.push(e.blob);
    group.names.push(String(e.id));
  }
  for (const { label, split, blobs, names } of groups.values()) {
    if (!state.classes.includes(label)) state.classes.push(label);
    await app.clf.addExamples(label, blobs, { ...(split ? { split } : {}), names });
    noteExamples(label, blobs);
  }
  try {
    await app.clf.load(MODEL_URL);
    state.trained = true;
  } catch (err) {
    // No saved model yet is the normal first visit.
    if (!(err instanceof EdgetuneError && err.code === 'MODEL_LOAD_FAILED')) throw err;
  }
  setStatus(
    examples.length
      ? `Restored ${state.classes.length} classes, ${examples.length} examples${state.trained ? ' and the trained model' : ''} from this device.`
      : `Add at least two classes: capture them with the camera on, or ${touchFirst() ? 'add photos' : 'drop images'}.`,
  );
}

async function main(): Promise<void> {
  setPhase('loading');
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js').catch((err) => console.warn('service worker not registered', err));
  }
  setStatus('Loading the model…');
  app.clf = await createClassifier({
    workerUrl: new URL('sdk/worker.js', location.href),
    modelBaseUrl: new URL('models/', location.href).href,
    wasmPaths: new URL('sdk/wasm/', location.href).href,
  });
  const b = app.clf.backend;
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
    // Cleared now, not after the save: a name typed meanwhile (the next class) must not be wiped.
    ui.newClass.value = '';
    void guarded('Add class', async () => {
      await ensureClass(name);
      renderClasses();
    });
  });
  ui.cameraStart.addEventListener('click', () =>
    guarded('Camera', async () => {
      if (camera.running) {
        camera.stop();
        document.body.classList.remove('camera-on');
        ui.noCamera.hidden = false;
        ui.cameraStart.textContent = 'Start camera';
      } else await startCamera();
    }),
  );
  ui.cameraSwitch.addEventListener('click', () => guarded('Camera', () => startCamera(true)));
  ui.live.addEventListener('change', () => void liveLoop());
  ui.checkData.addEventListener('click', () => guarded('Checking data', checkData));
  ui.poolInput.addEventListener('change', () => guarded('Ranking photos', () => rankPool([...(ui.poolInput.files ?? [])])));
  strategyOptions();
  ui.strategy.addEventListener('change', showStrategy);
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
  // int8 applies to the standalone formats only.
  ui.exportFormat.addEventListener('change', () => {
    ui.exportInt8.disabled = ui.exportFormat.value === 'edgetune';
    if (ui.exportInt8.disabled) ui.exportInt8.checked = false;
  });
  ui.importInput.addEventListener('change', () => guarded('Import', () => importFiles([...(ui.importInput.files ?? [])])));
  ui.reset.addEventListener('click', () =>
    guarded('Reset', async () => {
      if (!confirm('Delete every class, example and the saved model from this device?')) return;
      await app.clf.dispose();
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
