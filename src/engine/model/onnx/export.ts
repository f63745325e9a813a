// The ONNX export of a trained model: backbone (with a fine-tuned tail's
// weights), head and softmax in one model.onnx that ONNX Runtime runs.
import { EDGETUNE_VERSION } from '../../../constants.js';
import type { Backbone } from '../backbone.js';
import type { Head } from '../head.js';
import type { Tail } from '../tail.js';
import type { Network } from '../network.js';
import type { Range } from '../quantize/int8.js';
import { trainedNetwork } from '../trained-network.js';
import { writeOnnx } from './write.js';

export interface OnnxExportInput {
  backbone: Backbone;
  head: Head;
  tail: Tail | null;
  labels: string[];
  /** For an int8 export: the calibrated range of every network value. */
  calibrate?: (network: Network) => Promise<Map<string, Range>>;
}

/** model.onnx's bytes. Labels and preprocessing travel in its metadata_props. */
export async function exportOnnx({ backbone, head, tail, labels, calibrate }: OnnxExportInput): Promise<Uint8Array> {
  const { network, dense } = await trainedNetwork(backbone, head, tail);
  const ranges = calibrate ? await calibrate(network) : null;
  const m = backbone.manifest;
  return writeOnnx({
    network,
    inputSize: m.inputSize,
    normalization: m.normalization,
    head: dense,
    ...(ranges ? { int8: { ranges } } : {}),
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
      ...(ranges ? { quantization: 'int8 QDQ: uint8 activations calibrated on the training images, int8 weights per output channel, int32 biases; float32 head' } : {}),
      edgetuneVersion: EDGETUNE_VERSION,
    },
  });
}
