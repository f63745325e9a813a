// The TFLite export of a trained model: backbone (with a fine-tuned tail's or a
// fully fine-tuned network's weights), head and softmax in one model.tflite
// that LiteRT (Android, iOS, the Raspberry Pi, LiteRT.js) runs.
import { EDGETUNE_VERSION } from '../../../constants.js';
import type { Backbone } from '../backbone.js';
import type { Head } from '../head.js';
import type { Tail } from '../tail.js';
import { trainedNetwork } from '../trained-network.js';
import { writeTflite } from './write.js';

export interface TfliteExportInput {
  backbone: Backbone;
  head: Head;
  tail: Tail | null;
  labels: string[];
}

/** model.tflite's bytes. Labels and preprocessing travel in its `edgetune` metadata entry. */
export async function exportTflite({ backbone, head, tail, labels }: TfliteExportInput): Promise<Uint8Array> {
  const { network, dense } = await trainedNetwork(backbone, head, tail);
  const m = backbone.manifest;
  const [h, w] = m.inputSize;
  return writeTflite({
    network,
    inputSize: m.inputSize,
    normalization: m.normalization,
    head: dense,
    description: `edgetune ${EDGETUNE_VERSION}: ${m.id} backbone and a trained head (${labels.length} classes)`,
    metadata: {
      labels,
      preprocessing: {
        input: 'image',
        layout: 'NHWC',
        shape: [1, h, w, 3],
        dtype: 'float32',
        range: 'RGB 0..255, transparent areas flattened onto white',
        resize: `outside the model: bilinear with half-pixel centres to ${w}x${h}, aspect ratio not kept, no crop, no antialiasing`,
        normalization: 'inside the model',
      },
      backbone: m.id,
      backboneManifestSha256: backbone.manifestHash,
      ...(tail ? { unfreezeBlocks: tail.blocks } : {}),
      edgetuneVersion: EDGETUNE_VERSION,
    },
  });
}
