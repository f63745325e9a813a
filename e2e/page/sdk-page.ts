// Runs in the page: the shipped main-thread API (/dist/index.js, loaded as is,
// so its default worker, wasm and model URLs are the package's own).
// @ts-expect-error resolved by the browser at run time
import { createClassifier, EdgetuneError } from '/dist/index.js';
import { syntheticImage, syntheticSet } from '../../src/testing/synthetic.js';
import { toCanvas, toImageData } from '../../src/testing/dom.js';



async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e instanceof EdgetuneError ? (e as { code: string }).code : `not an EdgetuneError: ${String(e)}`;
  }
}

async function runSdk(o: { backends: string[]; backbone?: string; perClass: number; epochs: number; augment: number }) {
  const longTasks: number[] = [];
  new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration))).observe({ type: 'longtask', buffered: false });
  const errors: Record<string, string> = {};
  // A worker that cannot start (here: a 404 script) rejects with WORKER_CRASHED instead of hanging.
  errors.workerFails = await codeOf(createClassifier({ workerUrl: '/e2e/page/no-such-worker.js' }));
  const clf = await createClassifier({ backends: o.backends, ...(o.backbone ? { backbone: o.backbone } : {}) });
  errors.predictBeforeTraining = await codeOf(clf.predict(toCanvas(syntheticImage('disc', 1))));
  const classes = ['disc', 'stripes', 'checker'] as const;
  for (const label of classes) {
    // Canvases, ImageData and Blobs: the input kinds a page has.
    const imgs = Array.from({ length: o.perClass }, (_, i) => syntheticImage(label, 500 + i));
    await clf.addExamples(label, imgs.map((img, i) => (i % 2 ? toCanvas(img) : toImageData(img))));
  }
  errors.emptyLabel = await codeOf(clf.addExamples('  ', [toCanvas(syntheticImage('disc', 2))]));
  errors.badBlob = await codeOf(clf.addExamples('x', [new Blob(['not an image'], { type: 'image/png' })]));
  const progress: number[] = [];
  longTasks.length = 0;
  const report = await clf.fineTune({ epochs: o.epochs, augment: o.augment, seed: 5, onProgress: (p: { phase: string; epoch?: number }) => p.phase === 'train' && progress.push(p.epoch!) });
  const trainLongTasks = [...longTasks];
  const test = syntheticSet(3, 3, 77);
  const evaluation = await clf.evaluate(test.map((s) => ({ label: s.label, image: toCanvas(s.image) })));
  const before = await clf.predictBatch(test.map((s) => toCanvas(s.image)));
  // Abort keeps the previous model.
  const ctrl = new AbortController();
  const aborted = clf.fineTune({ epochs: 50, augment: o.augment, seed: 9, onProgress: (p: { phase: string; epoch?: number }) => p.phase === 'train' && p.epoch === 1 && ctrl.abort(), signal: ctrl.signal });
  errors.abort = await codeOf(aborted);
  const afterAbort = await clf.predictBatch(test.map((s) => toCanvas(s.image)));
  const files = await clf.export();
  await clf.import(files);
  const afterImport = await clf.predictBatch(test.map((s) => toCanvas(s.image)));
  // IndexedDB: save, then load into a second classifier (its own worker).
  await clf.save('indexeddb://e2e-model');
  const second = await createClassifier({ backends: o.backends, ...(o.backbone ? { backbone: o.backbone } : {}) });
  errors.loadMissing = await codeOf(second.load('indexeddb://no-such-model'));
  await second.load('indexeddb://e2e-model');
  const fromIndexedDb = await second.predictBatch(test.map((s) => toCanvas(s.image)));
  await second.dispose();
  await clf.dispose();
  await clf.dispose();
  errors.afterDispose = await codeOf(clf.predict(toCanvas(test[0]!.image)));
  return {
    backend: clf.backend,
    labels: report.labels,
    progress,
    epochs: [...report.history, ...(report.refitHistory ?? [])].map((h) => h.epoch),
    accuracy: evaluation.accuracy,
    before,
    afterAbort,
    afterImport,
    fromIndexedDb,
    errors,
    exportedFiles: Object.keys(files).sort(),
    trainLongTasks,
  };
}

/** A short partial fine-tune (the backbone's last blocks trained) in the worker on the default backbone. */
async function runPartial(o: { backends: string[] }) {
  const clf = await createClassifier({ backends: o.backends, persistentCacheBytes: 0 });
  for (const label of ['disc', 'stripes', 'checker'] as const) {
    await clf.addExamples(label, Array.from({ length: 4 }, (_, i) => toCanvas(syntheticImage(label, 300 + i))));
  }
  const stages: string[] = [];
  const prefix: unknown[] = [];
  // No validation split: the tail is kept, so the export must carry it.
  const report = await clf.fineTune({
    strategy: 'partial',
    epochs: 4,
    partialEpochs: 2,
    augment: 0,
    validationSplit: 0,
    batchSize: 8,
    onProgress: (p: { phase: string; stage?: string; prefix?: unknown }) => {
      if (p.phase === 'train') stages.push(p.stage!);
      if (p.phase === 'embed' && p.prefix) prefix.push(p.prefix);
    },
  });
  const test = syntheticSet(2, 3, 91);
  const evaluation = await clf.evaluate(test.map((s) => ({ label: s.label, image: toCanvas(s.image) })));
  const files = await clf.export();
  const backend = clf.backend;
  await clf.dispose();
  return { backend, stages: [...new Set(stages)], partialEpochs: report.partial?.history.length, prefix: prefix.at(-1), accuracy: evaluation.accuracy, files: Object.keys(files).sort() };
}

/** A short full fine-tune (every backbone layer trained) in the worker; its export reloads with the same predictions. */
async function runFull(o: { backends: string[]; backbone?: string; perClass: number }) {
  const clf = await createClassifier({ backends: o.backends, persistentCacheBytes: 0, ...(o.backbone ? { backbone: o.backbone } : {}) });
  for (const label of ['disc', 'stripes', 'checker'] as const) {
    await clf.addExamples(label, Array.from({ length: o.perClass }, (_, i) => toCanvas(syntheticImage(label, 300 + i))));
  }
  const stages: string[] = [];
  const report = await clf.fineTune({
    strategy: 'full',
    full: { epochs: 1 },
    epochs: 4,
    augment: 0,
    validationSplit: 0,
    batchSize: 4,
    onProgress: (p: { phase: string; stage?: string }) => {
      if (p.phase === 'train') stages.push(p.stage!);
    },
  });
  const test = syntheticSet(2, 2, 93);
  const images = test.map((s) => toCanvas(s.image));
  const before = await clf.predictBatch(images);
  const files = await clf.export();
  await clf.import(files);
  const after = await clf.predictBatch(images);
  const meta = JSON.parse(new TextDecoder().decode(files['edgetune.json']));
  const backend = clf.backend;
  await clf.dispose();
  type P = { label: string; probability: number };
  const drift = Math.max(...before.flatMap((b: P[], i: number) => b.map((p: P) => Math.abs(p.probability - after[i]!.find((q: P) => q.label === p.label)!.probability))));
  return { backend, stages: [...new Set(stages)], epochs: report.partial?.history.length, memory: report.partial?.memory, unfreezeBlocks: meta.tail?.unfreezeBlocks, drift, loss: report.partial?.history[0]?.loss };
}

/**
 * Adding many pixel images (ImageData, <img>) 100 per call: the page's main
 * thread converts them in slices, so no task runs over 50 ms. Adding only:
 * the backbone passes happen in the worker at training time.
 */
async function runAddMany(o: { backends: string[]; imageData: number; images: number; size: number }) {
  const clf = await createClassifier({ backends: o.backends, persistentCacheBytes: 0 });
  const pixels = (seed: number) => {
    const img = syntheticImage((['disc', 'stripes', 'checker'] as const)[seed % 3]!, seed, o.size);
    return toImageData(img);
  };
  const data = Array.from({ length: o.imageData }, (_, i) => pixels(i));
  const elements = await Promise.all(
    Array.from({ length: o.images }, async (_, i) => {
      const c = toCanvas(syntheticImage('disc', 9000 + i, o.size));
      const img = new Image();
      img.src = URL.createObjectURL(await new Promise<Blob>((r) => c.toBlob((b) => r(b!), 'image/png')));
      await img.decode();
      return img;
    }),
  );
  const longTasks: number[] = [];
  const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(Math.round(e.duration))));
  observer.observe({ type: 'longtask' });
  let counts: Record<string, { train: number }> = {};
  for (let i = 0; i < data.length; i += 100) counts = await clf.addExamples('data', data.slice(i, i + 100));
  for (let i = 0; i < elements.length; i += 100) counts = await clf.addExamples('img', elements.slice(i, i + 100));
  // Long tasks are reported after they end: give the last one time to arrive.
  await new Promise((r) => setTimeout(r, 200));
  observer.disconnect();
  await clf.dispose();
  return { longTasks, counts };
}

(globalThis as unknown as { runAddMany: typeof runAddMany }).runAddMany = runAddMany;
(globalThis as unknown as { runSdk: typeof runSdk }).runSdk = runSdk;
(globalThis as unknown as { runPartial: typeof runPartial }).runPartial = runPartial;
(globalThis as unknown as { runFull: typeof runFull }).runFull = runFull;
document.title = 'ready';
