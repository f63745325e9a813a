// A consumer's page, bundled by esbuild from the packed edgetune tarball: only
// the public entry, and the worker, .wasm and model files copied beside it.
import { createClassifier } from 'edgetune';

function image(rgb, seed) {
  const data = new Uint8ClampedArray(64 * 64 * 4);
  for (let i = 0; i < 64 * 64; i++) {
    const n = ((i * 2654435761 + seed * 97) % 41) - 20;
    data.set([rgb[0] + n, rgb[1] + n, rgb[2] + n, 255], i * 4);
  }
  return new ImageData(data, 64, 64);
}

globalThis.runApp = async () => {
  const clf = await createClassifier({
    backends: ['wasm'],
    workerUrl: '/edgetune/worker.js',
    wasmPaths: '/edgetune/wasm/',
    modelBaseUrl: '/edgetune/models/',
  });
  await clf.addExamples('red', [1, 2, 3, 4].map((s) => image([220, 30, 30], s)));
  await clf.addExamples('blue', [1, 2, 3, 4].map((s) => image([30, 40, 220], s)));
  const report = await clf.fineTune({ epochs: 5, augment: 0 });
  const red = await clf.predict(image([210, 40, 35], 9));
  const blue = await clf.predict(image([35, 45, 210], 9));
  await clf.dispose();
  return { backend: clf.backend.name, labels: report.labels, red: red[0].label, blue: blue[0].label };
};
document.title = 'ready';
