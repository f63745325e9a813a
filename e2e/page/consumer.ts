// A TypeScript user's file, type-checked against the packed package's declarations:
// each entry's documented API (README), with the options the README names.
import { createClassifier, EdgetuneError, isEdgetuneError, type ClassifierOptions, type Prediction } from 'edgetune';
import { createEngine, type EngineOptions, type TrainingReport } from 'edgetune/engine';
import { fileSource, nodeWasmThreads, onnxRuntimeForward, readModelDir, writeModelDir } from 'edgetune/node';

export const pageOptions: ClassifierOptions = {
  backends: ['webgpu', 'wasm', 'cpu'],
  backbone: 'mobilenet_v2_140',
  persistentCacheBytes: 512 << 20,
  wasmThreads: 4,
  workerUrl: new URL('https://cdn.example/edgetune/dist/worker.js'),
  wasmPaths: 'https://cdn.example/edgetune/dist/wasm/',
  modelBaseUrl: 'https://cdn.example/edgetune/models/',
  allowedOrigins: ['https://models.example'],
};

export async function page(image: HTMLImageElement): Promise<Prediction[]> {
  const clf = await createClassifier(pageOptions);
  try {
    await clf.addExamples('mug', [image]);
    const controller = new AbortController();
    await clf.fineTune({ strategy: 'partial', epochs: 40, signal: controller.signal, onProgress: (p) => p.phase });
    await clf.save('indexeddb://my-model');
    return await clf.predict(image, { topK: 3, rejectUnknown: true });
  } catch (err) {
    if (isEdgetuneError(err, 'WORKER_CRASHED')) await clf.restart();
    throw err instanceof EdgetuneError ? new Error(err.code) : err;
  }
}

export async function node(): Promise<TrainingReport> {
  const options: EngineOptions = { forward: onnxRuntimeForward(), wasmThreadsHost: nodeWasmThreads() };
  const engine = await createEngine(options);
  await engine.addExamples('cat', [await fileSource('cat1.jpg')]);
  await engine.addExamples('dog', [{ data: new Uint8Array(12), width: 2, height: 2, channels: 3 }]);
  const report = await engine.fineTune({ epochs: 30, onProgress: console.log });
  await writeModelDir('model', await engine.export({ merged: true }));
  await writeModelDir('onnx', await engine.export({ format: 'onnx' }));
  await engine.import(await readModelDir('model'));
  return report;
}
