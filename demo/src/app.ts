// The demo's shared parts: its elements, its state, the classifier, and how
// it reports what happened.
import { EdgetuneError, type Classifier } from 'edgetune';
import { Camera } from './camera.js';

export const MODEL_URL = 'indexeddb://edgetune-demo';
export const CAPTURE_MS = 200; // 5 frames per second while the capture button is held
export const THUMBS = 12;

export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
export const ui = {
  backend: $('backend'),
  status: $('status'),
  announce: $('announce'),
  captureBadge: $('capture-badge'),
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
  checkData: $<HTMLButtonElement>('check-data'),
  poolInput: $<HTMLInputElement>('pool-input'),
  dataReport: $('data-report'),
  strategy: $<HTMLSelectElement>('strategy'),
  epochs: $<HTMLInputElement>('epochs'),
  partialEpochsField: $('partial-epochs-field'),
  strategySummary: $('strategy-summary'),
  partialEpochs: $<HTMLInputElement>('partial-epochs'),
  augment: $<HTMLInputElement>('augment'),
  train: $<HTMLButtonElement>('train'),
  stop: $<HTMLButtonElement>('stop'),
  progress: $<HTMLProgressElement>('progress'),
  trainStatus: $('train-status'),
  chartLoss: document.getElementById('chart-loss') as unknown as SVGSVGElement,
  chartAcc: document.getElementById('chart-acc') as unknown as SVGSVGElement,
  chartSummary: $('chart-summary'),
  predictDrop: $('predict-drop'),
  predictInput: $<HTMLInputElement>('predict-input'),
  filePrediction: $('file-prediction'),
  evaluate: $<HTMLButtonElement>('evaluate'),
  evalInput: $<HTMLInputElement>('eval-input'),
  evaluation: $('evaluation'),
  exportBtn: $<HTMLButtonElement>('export'),
  exportFormat: $<HTMLSelectElement>('export-format'),
  exportInt8: $<HTMLInputElement>('export-int8'),
  importInput: $<HTMLInputElement>('import-input'),
  reset: $<HTMLButtonElement>('reset'),
};

export const state = {
  classes: [] as string[],
  counts: new Map<string, number>(),
  thumbs: new Map<string, string[]>(),
  trained: false,
  training: null as AbortController | null,
  /** Capture buttons held down: live prediction waits, so captures get the worker. */
  capturing: 0,
};

/** Before training, with two classes that have examples, the SDK answers from class prototypes (instant feedback). */
export const canPredict = () => state.trained || state.classes.filter((c) => (state.counts.get(c) ?? 0) > 0).length >= 2;
/** The classifier, created at start-up. */
export const app = { clf: null as unknown as Classifier };
export const camera = new Camera(ui.video);

export function setStatus(text: string, error = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', error);
}

const lastSaid = new Map<string, number>();
/**
 * Says `text` to screen readers through one polite live region. A `channel`
 * with `minMs` speaks at most that often: live predictions and epochs come
 * faster than anyone can listen.
 */
export function announce(text: string, channel = 'status', minMs = 0): void {
  const now = performance.now();
  if (minMs && now - (lastSaid.get(channel) ?? -Infinity) < minMs) return;
  lastSaid.set(channel, now);
  ui.announce.textContent = text;
}

/** A touch screen as the main pointer: phones and tablets (hints name photos, not folders). */
export const touchFirst = () => matchMedia('(pointer: coarse)').matches;

export function explain(err: unknown): string {
  return err instanceof EdgetuneError ? `${err.message} (${err.code})` : String((err as Error)?.message ?? err);
}

/** Runs an action, reporting failures in the status line instead of throwing. */
export async function guarded(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    setStatus(`${what} failed: ${explain(err)}`, true);
  }
}

export function setPhase(phase: 'loading' | 'ready' | 'training' | 'trained'): void {
  document.body.dataset.phase = phase;
  const enough = state.classes.filter((c) => (state.counts.get(c) ?? 0) > 0).length >= 2;
  ui.train.disabled = ui.checkData.disabled = phase === 'loading' || phase === 'training' || !enough;
  ui.stop.disabled = phase !== 'training';
  ui.evaluate.disabled = ui.exportBtn.disabled = !state.trained || phase === 'training';
}
export const refreshButtons = () => setPhase(state.training ? 'training' : state.trained ? 'trained' : 'ready');

/** A reporter for failures outside `guarded` (drop handlers). */
export const failed = (what: string) => (err: unknown) => setStatus(`${what} failed: ${explain(err)}`, true);

export const cssId = (s: string) => [...s].map((c) => c.codePointAt(0)!.toString(16)).join('-');
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
