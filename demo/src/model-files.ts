// The model as files: export (downloads) and import (picked files).
import type { ExportOptions } from 'edgetune';
import { app, MODEL_URL, setStatus, state, ui } from './app.js';
import { ensureClass, renderClasses } from './classes.js';
import { liveLoop } from './predict.js';

export async function exportFiles(): Promise<void> {
  const format = ui.exportFormat.value as NonNullable<ExportOptions['format']>;
  const int8 = format !== 'edgetune' && ui.exportInt8.checked;
  setStatus(int8 ? 'Calibrating int8 on your examples…' : 'Exporting…');
  const files = await app.clf.export({ format, int8 });
  for (const [name, bytes] of Object.entries(files)) {
    const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(new Blob([bytes as BlobPart])), download: name.replace(/\//g, '_') });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }
  setStatus(`Exported ${Object.keys(files).length} files: ${Object.keys(files).join(', ')}`);
}

export async function importFiles(files: File[]): Promise<void> {
  const { labels } = await app.clf.import(files);
  state.trained = true;
  for (const l of labels) await ensureClass(l);
  await app.clf.save(MODEL_URL);
  setStatus(`Imported a model with classes ${labels.join(', ')}; saved on this device.`);
  renderClasses();
  void liveLoop();
}
