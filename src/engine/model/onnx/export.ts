// The ONNX export of a trained model: backbone (with a fine-tuned tail's
// weights), head and softmax in one model.onnx that ONNX Runtime runs.
import * as tf from '@tensorflow/tfjs-core';
import { EDGETUNE_VERSION } from '../../../constants.js';
import type { Backbone } from '../backbone.js';
import type { Head } from '../head.js';
import type { Tail } from '../tail.js';
import { backboneNetwork, type Weight } from './network.js';
import { writeOnnx } from './write.js';

export interface OnnxExportInput {
  backbone: Backbone;
  head: Head;
  tail: Tail | null;
  labels: string[];
}

async function weightOf(t: tf.Tensor): Promise<Weight> {
  return { shape: t.shape, data: Float32Array.from((await t.data()) as Float32Array) };
}

/** model.onnx's bytes. Labels and preprocessing travel in its metadata_props. */
export async function exportOnnx({ backbone, head, tail, labels }: OnnxExportInput): Promise<Uint8Array> {
  const tailWeights = new Map<string, Weight>();
  for (const w of tail?.weights() ?? []) tailWeights.set(w.name, await weightOf(w.tensor));
  const network = backboneNetwork(backbone, tailWeights);
  const folded = head.foldedWeights();
  const dense: { kernel: Weight; bias: Weight }[] = [];
  try {
    for (let i = 0; i < folded.length; i += 2) dense.push({ kernel: await weightOf(folded[i]!), bias: await weightOf(folded[i + 1]!) });
  } finally {
    tf.dispose(folded);
  }
  const m = backbone.manifest;
  return writeOnnx({
    network,
    inputSize: m.inputSize,
    normalization: m.normalization,
    head: dense,
    producerVersion: EDGETUNE_VERSION,
    metadata: {
      labels: JSON.stringify(labels),
      preprocessing: JSON.stringify({
        input: 'image',
        layout: 'NHWC',
        shape: [null, null, null, 3],
        dtype: 'uint8',
        channels: 'RGB, transparent areas flattened onto white before',
        resize: `inside the model: bilinear with half-pixel centres to ${m.inputSize[1]}x${m.inputSize[0]}, aspect ratio not kept, no crop`,
        decode: 'edgetune decodes with EXIF orientation applied and the longer side downscaled to at most 448 px',
        normalization: 'inside the model',
      }),
      backbone: m.id,
      backboneManifestSha256: backbone.manifestHash,
      ...(tail ? { unfreezeBlocks: String(tail.blocks) } : {}),
      edgetuneVersion: EDGETUNE_VERSION,
    },
  });
}
