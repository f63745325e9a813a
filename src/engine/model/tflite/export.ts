// The TFLite export of a trained model: backbone (with a fine-tuned tail's or a
// fully fine-tuned network's weights), head and softmax in one model.tflite
// that LiteRT (Android, iOS, the Raspberry Pi, LiteRT.js) runs.
import { EDGETUNE_VERSION } from '../../../constants.js';
import type { Backbone } from '../backbone.js';
import type { Head } from '../head.js';
import type { Tail } from '../tail.js';
import type { Network } from '../network.js';
import type { Range } from '../quantize/int8.js';
import { trainedNetwork } from '../trained-network.js';
import { writeTflite } from './write.js';

export interface TfliteExportInput {
  backbone: Backbone;
  head: Head;
  tail: Tail | null;
  labels: string[];
  /** For an int8 export: the calibrated range of every network value. */
  calibrate?: (network: Network) => Promise<Map<string, Range>>;
}

/** model.tflite's bytes. Labels and preprocessing travel in its `edgetune` metadata entry. */
export async function exportTflite({ backbone, head, tail, labels, calibrate }: TfliteExportInput): Promise<Uint8Array> {
  const { network, dense } = await trainedNetwork(backbone, head, tail);
  const ranges = calibrate ? await calibrate(network) : null;
  const m = backbone.manifest;
  const [h, w] = m.inputSize;
  return writeTflite({
    network,
    inputSize: m.inputSize,
    normalization: m.normalization,
    head: dense,
    ...(ranges ? { int8: { ranges } } : {}),
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
      ...(ranges ? { quantization: 'int8: activations per tensor calibrated on the training images, weights per output channel, int32 biases; float32 input, head and output' } : {}),
      edgetuneVersion: EDGETUNE_VERSION,
    },
  });
}
