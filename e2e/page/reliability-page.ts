// Runs in the page: bad inputs, concurrency, soak, worker crash + restart,
// persistence and the reload-then-retrain cache, through the shipped SDK.
// @ts-expect-error resolved by the browser at run time
import { createClassifier, EdgetuneError } from '/dist/index.js';
import { syntheticImage } from '../../src/testing/synthetic.js';
import { toImageData } from '../../src/testing/dom.js';
import type { Classifier } from '../../src/client/classifier.js';


async function codeOf(p: Promise<unknown> | (() => Promise<unknown>)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'resolved';
  } catch (e) {
    return e instanceof EdgetuneError ? (e as { code: string }).code : `not an EdgetuneError: ${String(e)}`;
  }
}

/** Records in an IndexedDB database's object stores (the SDK's 'edgetune' model store). */
async function countRecords(db: string): Promise<Record<string, number>> {
  const open = await new Promise<IDBDatabase>((res, rej) => Object.assign(indexedDB.open(db), { onsuccess(this: IDBRequest<IDBDatabase>) { res(this.result); }, onerror: rej }));
  const out: Record<string, number> = {};
  for (const name of [...open.objectStoreNames]) {
    out[name] = await new Promise<number>((res) => {
      const r = open.transaction(name).objectStore(name).count();
      r.onsuccess = () => res(r.result);
    });
  }
  open.close();
  return out;
}

/** The shipped worker plus fault injection (testing-worker.ts). */
const TESTING_WORKER = '/e2e/.build/testing-worker.js';

/** Injects a fault into the testing workers of this page. */
async function inject(fault: 'crash' | 'lose-device' | 'quota' | 'write-error' | 'writes-ok'): Promise<void> {
  new BroadcastChannel('edgetune-testing').postMessage(fault);
  await new Promise((r) => setTimeout(r, 50));
}

interface Options {
  backbone: string;
  predicts: number;
  cycles: number;
}

/** Bad inputs, each answered by its error code: a typed error each, none kills the worker. */
async function badInputs(clf: Classifier, probe: ImageData): Promise<Record<string, string>> {
  const closed = await createImageBitmap(probe);
  closed.close();
  const video = document.createElement('video');
  const svg = new Blob(['<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'], { type: 'image/svg+xml' });
  return {
    zeroByteBlob: await codeOf(clf.addExamples('x', [new Blob([])])),
    textAsJpeg: await codeOf(clf.addExamples('x', [new Blob(['hello'], { type: 'image/jpeg' })])),
    truncatedPng: await codeOf(clf.addExamples('x', [new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])], { type: 'image/png' })])),
    svgBlob: await codeOf(clf.addExamples('x', [svg])),
    closedBitmap: await codeOf(clf.addExamples('x', [closed])),
    videoWithoutFrame: await codeOf(clf.addExamples('x', [video])),
    notAnArray: await codeOf(clf.addExamples('x', probe as never)),
    emptyLabel: await codeOf(clf.addExamples('', [probe])),
    longLabel: await codeOf(clf.addExamples('x'.repeat(101), [probe])),
    reservedLabel: await codeOf(clf.addExamples('<unknown>', [probe])),
    noExamples: await codeOf(clf.fineTune()),
    badOption: await codeOf(clf.fineTune({ epochs: -1 })),
    badTopK: await codeOf(clf.predict(probe, { topK: 0 })),
  };
}

async function runReliability(o: Options) {
  const opts = { backends: ['wasm'], backbone: o.backbone, workerUrl: TESTING_WORKER };
  const clf = await createClassifier(opts);
  const classes = ['disc', 'stripes', 'checker'] as const;
  const images = (label: (typeof classes)[number], seed: number, n = 4) => Array.from({ length: n }, (_, i) => toImageData(syntheticImage(label, seed + i)));
  const probe = toImageData(syntheticImage('disc', 9_999));

  const bad = await badInputs(clf, probe);

  // Awkward but valid: an all-zero frame, labels with '/' and unicode, a duplicated label (same class).
  const zero = new ImageData(64, 64);
  const odd = { slash: 'cats/dogs', unicode: 'ñandú 🐦' };
  await clf.addExamples(odd.slash, [zero, ...images('checker', 40, 3)]);
  await clf.addExamples(odd.unicode, images('stripes', 50, 4));
  const dup = await clf.addExamples(odd.unicode, images('stripes', 60, 1));
  const report = await clf.fineTune({ epochs: 4, augment: 0 });
  const zeroPrediction = await clf.predict(zero, { topK: 10 });

  // Concurrency: a second fineTune while one runs is rejected with BUSY; the first completes.
  const first = clf.fineTune({ epochs: 30, augment: 0 });
  const busy = await codeOf(clf.fineTune({ epochs: 1 }));
  await first;

  // Soak: predictions and fineTune + save cycles return to the tensor baseline; one model record in IndexedDB.
  await clf.save('indexeddb://soak');
  await clf.predict(probe);
  const base = await clf.stats();
  for (let i = 0; i < o.predicts; i++) await clf.predict(probe);
  const afterPredicts = await clf.stats();
  for (let i = 0; i < o.cycles; i++) {
    await clf.fineTune({ epochs: 2, augment: 0, seed: i });
    await clf.save('indexeddb://soak');
  }
  await clf.predict(probe);
  const afterCycles = await clf.stats();
  const records = await countRecords('edgetune');

  // Crash: pending and later calls reject with WORKER_CRASHED; restart() reloads the last save.
  const saved = await clf.predict(probe);
  // The pending call's outcome is awaited from the start: it rejects while the fault is injected.
  const pending = codeOf(clf.fineTune({ epochs: 500, augment: 0 }));
  await inject('crash');
  const crashCodes = { pending: await pending, later: await codeOf(clf.predict(probe)) };
  const restarted = await clf.restart();
  const afterRestart = await clf.predict(probe);

  // Reload-then-retrain: a new worker with the same examples computes no backbone pass (IndexedDB cache).
  await clf.dispose();
  const again = await createClassifier(opts);
  await again.addExamples(odd.slash, [zero, ...images('checker', 40, 3)]);
  await again.addExamples(odd.unicode, [...images('stripes', 50, 4), ...images('stripes', 60, 1)]);
  const retrain = await again.fineTune({ epochs: 4, augment: 0 });
  const files = await again.export();
  await again.dispose();
  const meta = new TextDecoder().decode(files['edgetune.json']);
  return {
    bad,
    labels: report.labels,
    dupCount: dup[odd.unicode],
    zeroPrediction,
    busy,
    soak: { base, afterPredicts, afterCycles, records },
    crashCodes,
    restarted,
    savedTop: saved[0].label,
    afterRestartTop: afterRestart[0].label,
    sameAfterRestart: Math.abs(saved[0].probability - afterRestart[0].probability) < 1e-5,
    retrain: { computed: retrain.embeddingsComputed, hits: retrain.cacheHits },
    exportedFiles: Object.keys(files).sort(),
    metaBytes: meta.length,
    metaKeys: Object.keys(JSON.parse(meta)).sort(),
  };
}

/**
 * Saves that fail (a full quota, a broken store) keep the saved version: a fresh
 * classifier loads it and predicts what it predicted when it was saved.
 */
async function runFailedSaves(o: { backbone: string }) {
  const clf = await createClassifier({ backends: ['wasm'], backbone: o.backbone, workerUrl: TESTING_WORKER });
  const probe = toImageData(syntheticImage('stripes', 4242));
  for (const label of ['disc', 'stripes'] as const) await clf.addExamples(label, Array.from({ length: 4 }, (_, i) => toImageData(syntheticImage(label, 30 + i))));
  await clf.fineTune({ epochs: 4, augment: 0, seed: 1 });
  await clf.save('indexeddb://failing-saves');
  const saved = await clf.predict(probe, { topK: 3 });
  // A different model now: a third class.
  await clf.addExamples('checker', Array.from({ length: 4 }, (_, i) => toImageData(syntheticImage('checker', 30 + i))));
  await clf.fineTune({ epochs: 4, augment: 0, seed: 2 });
  const codes: Record<string, string> = {};
  for (const fault of ['quota', 'write-error'] as const) {
    await inject(fault);
    await new Promise((r) => setTimeout(r, 50));
    codes[fault] = await codeOf(clf.save('indexeddb://failing-saves'));
  }
  await inject('writes-ok');
  await clf.dispose();
  const fresh = await createClassifier({ backends: ['wasm'], backbone: o.backbone });
  const meta = await fresh.load('indexeddb://failing-saves');
  const loaded = await fresh.predict(probe, { topK: 3 });
  await fresh.dispose();
  return { codes, labels: meta.labels, saved, loaded };
}

/** WebGPU device lost after training: the worker moves to WASM with the same model and examples. */
async function runDeviceLoss(o: { backbone: string }) {
  const clf = await createClassifier({ backends: ['webgpu', 'wasm'], backbone: o.backbone, workerUrl: TESTING_WORKER });
  const before = clf.backend;
  for (const label of ['disc', 'stripes'] as const) {
    await clf.addExamples(label, Array.from({ length: 4 }, (_, i) => toImageData(syntheticImage(label, 20 + i))));
  }
  await clf.fineTune({ epochs: 4, augment: 0 });
  const probe = toImageData(syntheticImage('stripes', 777));
  const p1 = await clf.predict(probe);
  await inject('lose-device');
  let after = (await clf.stats()).backend;
  for (let i = 0; i < 100 && after.name === 'webgpu'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = (await clf.stats()).backend;
  }
  const p2 = await clf.predict(probe);
  // Examples moved too: training again works on the fallback.
  const again = await clf.fineTune({ epochs: 2, augment: 0 });
  await clf.dispose();
  return { before, after, backendProperty: clf.backend, p1, p2, retrainedLabels: again.labels };
}

(globalThis as unknown as { runReliability: typeof runReliability }).runReliability = runReliability;
(globalThis as unknown as { runDeviceLoss: typeof runDeviceLoss }).runDeviceLoss = runDeviceLoss;
(globalThis as unknown as { runFailedSaves: typeof runFailedSaves }).runFailedSaves = runFailedSaves;
document.title = 'ready';
