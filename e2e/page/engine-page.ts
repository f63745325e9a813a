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

/**
 * The worker's decoding of ImageData: opaque pixels of a usable size are kept as they
 * are, and must equal what a canvas round trip gives; transparent ones are flattened
 * onto white, large ones downscaled. Counts of differing bytes, and the sizes.
 */
async function runDecode() {
  const { decodeWorkerImage, drawOnWhite } = await import('../../src/worker/images.js');
  const random = (w: number, h: number, alpha: (i: number) => number) => {
    const d = new Uint8ClampedArray(w * h * 4);
    for (let i = 0; i < d.length; i++) d[i] = i % 4 === 3 ? alpha(i >> 2) : (i * 7919 + (i >> 5) * 31) % 256;
    return new ImageData(d, w, h);
  };
  const differing = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).filter((v, i) => v !== b[i]).length + Math.abs(a.length - b.length);
  const opaque = random(96, 80, () => 255);
  const kept = await decodeWorkerImage(opaque);
  const half = random(64, 64, (p) => (p % 2 ? 255 : 0));
  const flat = await decodeWorkerImage(half);
  const large = await decodeWorkerImage(random(900, 600, () => 255));
  return {
    opaqueKept: kept.data === opaque.data,
    opaqueVsCanvas: differing(kept.data, drawOnWhite(opaque, 96, 80).data),
    transparentVsCanvas: differing(flat.data, drawOnWhite(half, 64, 64).data),
    transparentPixelIsWhite: [...flat.data.subarray(0, 4)],
    largeSize: [large.width, large.height],
  };
}

Object.assign(globalThis, { runScenario, runBackend, runDecode });
document.title = 'ready';
