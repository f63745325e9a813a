// Runs in the browser page: the engine (same code as the worker will run) on
// generated images, through fetch-loaded, hash-verified model files.
import { createEngine, pixelSource, selectBackend } from '../../src/engine/index.js';
import { syntheticImage, syntheticSet } from '../../src/testing/synthetic.js';
import type { BackendName } from '../../src/types.js';

export interface ScenarioOptions {
  backends: BackendName[];
  backbone: string;
  perClass: number;
  epochs: number;
  augment: number;
}

async function runScenario(o: ScenarioOptions) {
  const engine = await createEngine({
    backends: o.backends,
    backbone: o.backbone,
    modelBaseUrl: '/models/',
    wasmPaths: '/node_modules/@tensorflow/tfjs-backend-wasm/dist/',
  });
  try {
    const classes = ['disc', 'stripes', 'checker'] as const;
    for (const label of classes) {
      const imgs = Array.from({ length: o.perClass }, (_, i) => syntheticImage(label, 500 + i));
      await engine.addExamples(label, await Promise.all(imgs.map((img) => pixelSource(img))));
    }
    const epochs: number[] = [];
    const report = await engine.fineTune({ epochs: o.epochs, augment: o.augment, seed: 5, onProgress: (p) => p.phase === 'train' && epochs.push(p.epoch) });
    const test = syntheticSet(3, 3, 77);
    const evaluation = await engine.evaluate(test.map((s) => ({ label: s.label, image: s.image })));
    const before = await engine.predictBatch(test.map((s) => s.image));
    await engine.import(await engine.export());
    const after = await engine.predictBatch(test.map((s) => s.image));
    // Embeddings of fixed images, to compare backends with each other.
    const probe = classes.map((c) => syntheticImage(c, 1));
    const tf = await import('@tensorflow/tfjs-core');
    const { batchToInput, FULL_VIEW } = await import('../../src/engine/data/preprocess.js');
    const emb = tf.tidy(() => engine.backbone.embed(batchToInput(probe.map((img) => ({ img, boxes: [FULL_VIEW] })), engine.backbone.manifest)));
    const embeddings = Array.from(await emb.data());
    emb.dispose();
    return {
      backend: engine.backend,
      crossOriginIsolated: globalThis.crossOriginIsolated,
      labels: report.labels,
      epochsReported: epochs.length,
      accuracy: evaluation.accuracy,
      before,
      after,
      embeddings,
    };
  } finally {
    await engine.dispose();
  }
}

/** The WASM backend as selectBackend starts it, and what the page's navigator says before and after. */
async function runBackend(o: { wasmThreads?: number }) {
  const coresBefore = navigator.hardwareConcurrency;
  const backend = await selectBackend({ backends: ['wasm'], wasmPaths: '/node_modules/@tensorflow/tfjs-backend-wasm/dist/', ...o });
  return { backend, coresBefore, coresAfter: navigator.hardwareConcurrency, crossOriginIsolated: globalThis.crossOriginIsolated };
}

Object.assign(globalThis, { runScenario, runBackend });
document.title = 'ready';
