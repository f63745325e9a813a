// Classes and their examples: the cards (rename, delete, thumbnails), adding
// files, folders and camera frames, and keeping the demo's store in step.
import { app, camera, CAPTURE_MS, cssId, escapeHtml, explain, failed, guarded, refreshButtons, setStatus, state, THUMBS, ui } from './app.js';
import { Camera } from './camera.js';
import { bindDrop, imageFolder, type DroppedFile } from './files.js';
import { downscaleImages } from './images.js';
import { liveLoop } from './predict.js';
import * as store from './store.js';

export function renderClasses(): void {
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
          <button type="button" class="capture">Capture</button>
          <label class="button">Add photos… <input type="file" accept="image/*" multiple hidden class="files"></label>
          <button type="button" class="delete" aria-label="Delete class ${escapeHtml(name)}">Delete</button>
        </div>
        <div class="thumbs" role="group" tabindex="0" aria-label="Examples of ${escapeHtml(name)}"></div>`;
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


/**
 * Stores images, then hands them to the classifier named by their record ids:
 * inspect() reports examples by those names, so its fixes find the stored image.
 */
export async function addToBoth(label: string, blobs: Blob[], split?: 'val'): Promise<void> {
  const ids = await store.addExamples(label, blobs, split);
  await app.clf.addExamples(label, blobs, { ...(split ? { split } : {}), names: ids.map(String) });
}

/** Counts and thumbnails again from the store (after examples were removed or moved). */
export async function reloadExamples(): Promise<void> {
  state.thumbs.forEach((urls) => urls.forEach((u) => URL.revokeObjectURL(u)));
  state.counts.clear();
  state.thumbs.clear();
  const all = await store.allExamples();
  for (const label of state.classes) noteExamples(label, all.filter((e) => e.label === label).map((e) => e.blob));
  renderClasses();
}

export async function ensureClass(name: string): Promise<void> {
  if (state.classes.includes(name)) return;
  state.classes.push(name);
  await store.saveClasses(state.classes);
}

/**
 * Stores images (downscaled JPEGs) for a class and hands them to the classifier.
 * Returns the files that could not be read; throws only when none could.
 */
export async function addImages(label: string, files: Blob[], split?: 'val'): Promise<{ added: number; unreadable: string[] }> {
  if (!files.length) return { added: 0, unreadable: [] };
  const { images, unreadable } = await downscaleImages(files);
  const skipped = unreadable.map((u) => u.reason);
  if (!images.length) throw new Error(skipped.length === 1 ? skipped[0]! : `none of the ${files.length} files is a readable image (${skipped[0]})`);
  await ensureClass(label);
  await addToBoth(label, images, split);
  noteExamples(label, images);
  renderClasses();
  return { added: images.length, unreadable: skipped };
}

/** "Add photos…" and drops on a class card. */
export async function addFilesToClass(label: string, files: File[]): Promise<void> {
  const { added, unreadable } = await addImages(label, files);
  if (added) setStatus(`Added ${added} image${added === 1 ? '' : 's'} to '${label}'${skippedNote(unreadable)}`, unreadable.length > 0);
}

const skippedNote = (unreadable: string[]) =>
  unreadable.length ? `; skipped ${unreadable.length} unreadable file${unreadable.length === 1 ? '' : 's'}: ${unreadable.slice(0, 3).join('; ')}${unreadable.length > 3 ? '; …' : ''}` : '';

export function noteExamples(label: string, blobs: Blob[]): void {
  state.counts.set(label, (state.counts.get(label) ?? 0) + blobs.length);
  const thumbs = state.thumbs.get(label) ?? [];
  thumbs.push(...blobs.map((b) => URL.createObjectURL(b)));
  for (const old of thumbs.splice(0, Math.max(0, thumbs.length - THUMBS))) URL.revokeObjectURL(old);
  state.thumbs.set(label, thumbs);
}

export async function renameClass(from: string, raw: string): Promise<void> {
  const to = raw.trim();
  if (!to || to === from) return renderClasses();
  if (state.classes.includes(to)) {
    setStatus(`A class named '${to}' already exists`, true);
    return renderClasses();
  }
  // The classifier keys examples by label: move them by removing and re-adding.
  await store.moveClass(from, to);
  await app.clf.removeClass(from);
  const moved = (await store.allExamples()).filter((e) => e.label === to);
  for (const split of ['train', 'val'] as const) {
    const records = moved.filter((e) => (e.split ?? 'train') === split);
    if (records.length) await app.clf.addExamples(to, records.map((e) => e.blob), { split, names: records.map((e) => String(e.id)) });
  }
  state.classes = state.classes.map((c) => (c === from ? to : c));
  for (const m of [state.counts, state.thumbs] as Map<string, unknown>[]) {
    if (m.has(from)) m.set(to, m.get(from)), m.delete(from);
  }
  await store.saveClasses(state.classes);
  setStatus(`Renamed '${from}' to '${to}'. Train again to use the new name.`);
  renderClasses();
}

export async function deleteClass(name: string): Promise<void> {
  await app.clf.removeClass(name);
  await store.moveClass(name);
  state.classes = state.classes.filter((c) => c !== name);
  state.counts.delete(name);
  state.thumbs.get(name)?.forEach((u) => URL.revokeObjectURL(u));
  state.thumbs.delete(name);
  await store.saveClasses(state.classes);
  renderClasses();
}

/**
 * Capture on press: a tap takes one frame, a hold keeps taking them at a steady
 * rate (pointer, touch, or Space/Enter held) until released.
 */
export function bindCapture(button: HTMLButtonElement, label: string): void {
  let held = false;
  let timer: ReturnType<typeof setInterval> | null = null;
  let busy = false;
  const tick = async () => {
    if (busy || !camera.running) return;
    busy = true;
    try {
      const blob = await camera.capture();
      await addToBoth(label, [blob]);
      noteExamples(label, [blob]);
      updateClassCard(label);
    } catch (err) {
      setStatus(`Capture failed: ${explain(err)}`, true);
    } finally {
      busy = false;
    }
  };
  const finish = () => {
    state.capturing--;
    button.classList.remove('capturing');
    button.setAttribute('aria-pressed', 'false');
    ui.captureBadge.hidden = true;
    refreshButtons();
    void liveLoop();
  };
  const press = async () => {
    if (held) return;
    held = true;
    state.capturing++;
    button.classList.add('capturing');
    button.setAttribute('aria-pressed', 'true');
    try {
      if (!camera.running) await guarded('Camera', startCamera);
      if (!camera.running) return;
      await ensureClass(label);
      showCaptureBadge(label);
      await tick();
      // Still held after the first frame: a hold, not a tap.
      if (held) timer = setInterval(tick, CAPTURE_MS);
    } finally {
      if (!timer) finish();
    }
  };
  const release = () => {
    held = false;
    if (!timer) return;
    clearInterval(timer);
    timer = null;
    finish();
  };
  button.addEventListener('pointerdown', (e) => {
    button.setPointerCapture(e.pointerId);
    void press();
  });
  for (const ev of ['pointerup', 'pointercancel', 'lostpointercapture']) button.addEventListener(ev, release);
  button.addEventListener('keydown', (e) => {
    if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) {
      e.preventDefault();
      void press();
    }
  });
  button.addEventListener('keyup', (e) => (e.key === ' ' || e.key === 'Enter') && release());
  button.addEventListener('contextmenu', (e) => e.preventDefault());
}

/** On the preview while a class captures: which class, and its count as it grows. */
function showCaptureBadge(label: string): void {
  const n = state.counts.get(label) ?? 0;
  ui.captureBadge.textContent = `● ${label}: ${n}`;
  ui.captureBadge.hidden = false;
}

/** Updates a card's count and thumbnails without re-rendering (keeps the held button's state). */
export function updateClassCard(label: string): void {
  const li = [...ui.classes.children].find((c) => (c as HTMLElement).dataset.label === label);
  if (!li) return renderClasses();
  const n = state.counts.get(label) ?? 0;
  li.querySelector('.count')!.textContent = `${n} example${n === 1 ? '' : 's'}`;
  if (!ui.captureBadge.hidden) showCaptureBadge(label);
  li.querySelector('.thumbs')!.replaceChildren(...(state.thumbs.get(label) ?? []).map((src) => Object.assign(document.createElement('img'), { src, alt: '' })));
}

export async function startCamera(switchFacing = false): Promise<void> {
  await camera.start(switchFacing);
  ui.noCamera.hidden = true;
  document.body.classList.add('camera-on');
  ui.cameraStart.textContent = 'Stop camera';
  ui.cameraSwitch.disabled = !(await Camera.canSwitch());
  void liveLoop();
}


/**
 * Adds a dropped or picked ImageFolder: train/ (or a flat layout's class
 * folders) as training examples, val/ pinned to validation; test/ is left for
 * "Evaluate a folder…".
 */
export async function addFolder(files: DroppedFile[]): Promise<void> {
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
