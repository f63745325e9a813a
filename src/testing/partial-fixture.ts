// What the partial-strategy suites share: the options of a short partial run and
// an engine on the default backbone with six generated examples of three classes.
import assert from 'node:assert/strict';
import { createEngine, type Engine } from '../engine/engine.js';
import type { ModelFiles, Prediction, RawImage } from '../types.js';
import { pixelSource } from '../engine/data/examples.js';
import { onnxRuntimeForward } from '../node/onnx-forward.js';
import { syntheticImage, SYNTHETIC_CLASSES } from './synthetic.js';

export const PARTIAL_CLASSES = SYNTHETIC_CLASSES.slice(0, 3);
// No validation split: the tail is always kept, so the tests exercise it.
export const PARTIAL = { strategy: 'partial', epochs: 6, partialEpochs: 2, augment: 1, seed: 3, validationSplit: 0, batchSize: 8 } as const;

/**
 * The frozen backbone and the tail's products run on ONNX Runtime, as the CLI runs
 * them (engine.test.ts and the browser e2e tests cover tfjs alone; onnx-forward.test.ts
 * and onnx-gemm.test.ts the runtimes' agreement).
 */
export const TEST_FORWARD = onnxRuntimeForward();

export async function partialEngine(): Promise<Engine> {
  const engine = await createEngine({ backends: ['wasm', 'cpu'], forward: TEST_FORWARD });
  for (const label of PARTIAL_CLASSES) {
    const imgs = await Promise.all(Array.from({ length: 6 }, (_, i) => pixelSource(syntheticImage(label, 500 + i), `${label}${i}`)));
    await engine.addExamples(label, imgs);
  }
  return engine;
}

/** A fresh engine imports `files` and predicts `images` within 1e-4 of `want` (the exporting engine's predictions). */
export async function assertReimportAgrees(files: ModelFiles, images: RawImage[], want: Prediction[][]): Promise<void> {
  const other = await createEngine({ useCurrentBackend: true, forward: TEST_FORWARD });
  try {
    await other.import(files);
    const got = await other.predictBatch(images);
    got.forEach((g, i) => g.forEach((p, j) => assert.ok(Math.abs(p.probability - want[i]![j]!.probability) < 1e-4)));
  } finally {
    other.dispose();
  }
}
