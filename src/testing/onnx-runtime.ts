// Running exported model.onnx files in ONNX Runtime (onnxruntime-node), as a
// deploying user would: uint8 RGB pixels at any size in, probabilities out.
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import type { Engine } from '../engine/engine.js';
import type { RawImage } from '../types.js';

export const { onnx } = onnxProto as unknown as typeof import('onnx-proto');

/** Probabilities from ONNX Runtime, each image at its own size. */
export async function runOnnx(model: Uint8Array, images: RawImage[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(model);
  try {
    const out: Float32Array[] = [];
    for (const im of images) out.push((await session.run({ image: new ort.Tensor('uint8', Uint8Array.from(im.data), [1, im.height, im.width, 3]) })).probabilities!.data as Float32Array);
    return out;
  } finally {
    await session.release();
  }
}

/** The largest |probability difference| between ONNX Runtime on model.onnx (each image at its own size) and the engine. */
export async function onnxAgreement(engine: Engine, model: Uint8Array, images: RawImage[]): Promise<number> {
  const labels = JSON.parse(onnx.ModelProto.decode(model).metadataProps.find((p) => p.key === 'labels')!.value!) as string[];
  const predictions = await engine.predictBatch(images, { topK: labels.length });
  const probs = await runOnnx(model, images);
  let max = 0;
  for (const [i, p] of probs.entries()) {
    assert.equal(p.length, labels.length);
    for (const q of predictions[i]!) max = Math.max(max, Math.abs(q.probability - p[labels.indexOf(q.label)]!));
  }
  return max;
}
