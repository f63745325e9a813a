// Pixels -> normalized backbone input, with random-resized-crop + flip views
// expressed as crop boxes so one tfjs op does crop, flip and resize.
import * as tf from '@tensorflow/tfjs-core';
import { EdgetuneError } from '../../errors.js';
import type { RawImage } from '../../types.js';
import type { BackboneManifest } from '../model/manifest.js';
import { createRng, seedFrom } from '../util/random.js';

/** Bumped whenever preprocessing changes, so cached embeddings of older versions are not reused. */
export const PREPROCESS_VERSION = 2;

/** Normalized crop box [y1, x1, y2, x2]; x1 > x2 means a horizontally flipped view. */
export type Box = [number, number, number, number];

export const FULL_VIEW: Box = [0, 0, 1, 1];

/** Random-resized-crop parameters (torchvision's RandomResizedCrop with a narrower scale). */
export const CROP_SCALE: [number, number] = [0.6, 1.0];
export const CROP_RATIO: [number, number] = [3 / 4, 4 / 3];

/**
 * The crop box of augmented view `view` (1-based) of an image. Derived from the
 * image's content hash, not the training seed, so a view's embedding is the same
 * in every run and stays cacheable.
 */
export function augmentBox(imageHash: string, view: number, width: number, height: number): Box {
  const rng = createRng(seedFrom(`${imageHash}:${view}`));
  const area = width * height;
  let box: Box = FULL_VIEW;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (CROP_SCALE[0] + rng() * (CROP_SCALE[1] - CROP_SCALE[0]));
    const logR = Math.log(CROP_RATIO[0]) + rng() * (Math.log(CROP_RATIO[1]) - Math.log(CROP_RATIO[0]));
    const w = Math.sqrt(target * Math.exp(logR));
    const h = Math.sqrt(target / Math.exp(logR));
    if (w <= width && h <= height) {
      const x = rng() * (width - w);
      const y = rng() * (height - h);
      box = [y / height, x / width, (y + h) / height, (x + w) / width];
      break;
    }
  }
  const flip = rng() < 0.5;
  return flip ? [box[0], box[3], box[2], box[1]] : box;
}

/** Checks an image's shape and buffer, so a bad frame fails with INVALID_IMAGE, not a tfjs error. */
export function validateRawImage(img: RawImage, what = 'image'): void {
  const { width, height, channels, data } = img ?? ({} as RawImage);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new EdgetuneError('INVALID_IMAGE', `${what} has invalid size ${width}x${height}`);
  }
  if (channels !== 3 && channels !== 4) throw new EdgetuneError('INVALID_IMAGE', `${what} must have 3 or 4 channels, got ${channels}`);
  if (!data || data.length !== width * height * channels) {
    throw new EdgetuneError(
      'INVALID_IMAGE',
      `${what}: pixel buffer holds ${data?.length ?? 0} bytes, expected ${width}x${height}x${channels} = ${width * height * channels}`,
    );
  }
}

/**
 * The image's RGB values as float32, alpha dropped, made on the host: the same
 * values as casting its bytes in tfjs (exact), without the int32 tensor, the
 * channel Slice and the Cast (on WASM the Slice alone cost ~2.5 ms per 96x96 RGBA
 * frame, more than the resize).
 */
function rgbFloats(img: RawImage): Float32Array {
  const { data, channels } = img;
  if (channels === 3) return Float32Array.from(data);
  const n = img.width * img.height;
  const out = new Float32Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    out[3 * i] = data[j]!;
    out[3 * i + 1] = data[j + 1]!;
    out[3 * i + 2] = data[j + 2]!;
  }
  return out;
}

/**
 * Builds the normalized backbone input for several views of one image:
 * [views.length, h, w, 3] float32. Call inside tf.tidy.
 */
export function viewsToInput(img: RawImage, views: Box[], manifest: BackboneManifest): tf.Tensor4D {
  const [h, w] = manifest.inputSize;
  const batch = tf.tensor4d(rgbFloats(img), [1, img.height, img.width, 3], 'float32');
  // The full view resizes with half-pixel centers (as PIL and torchvision do);
  // crops go through cropAndResize, which does crop, flip and resize in one op.
  const isFull = (v: Box) => v.every((c, i) => c === FULL_VIEW[i]);
  const parts = views.map((v) =>
    isFull(v) ? tf.image.resizeBilinear(batch, [h, w], false, true) : tf.image.cropAndResize(batch, tf.tensor2d([v]), [0], [h, w], 'bilinear'),
  );
  const crops = parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
  return normalize(crops, manifest.normalization);
}

/**
 * x / (255 * std) - mean / std per channel, as one 1x1 convolution with a diagonal
 * filter and a bias: tfjs-backend-wasm's broadcasting Multiply took ~4 ms per
 * 224x224 image (10x a same-shape one), the convolution ~1 ms for both steps. The
 * values are bit-identical to a multiply then a subtract (each output channel is one
 * float32 product plus the bias; the zero taps add exact zeros), so cached embeddings stay valid.
 */
function normalize(x: tf.Tensor4D, { mean, std }: BackboneManifest['normalization']): tf.Tensor4D {
  const c = std.length;
  const filter = new Float32Array(c * c);
  std.forEach((s, i) => (filter[i * c + i] = 1 / (255 * s)));
  const bias = tf.tensor1d(mean.map((m, i) => -(m / std[i]!)));
  return tf.fused.conv2d({ x, filter: tf.tensor4d(filter, [1, 1, c, c]), strides: 1, pad: 'valid', bias });
}
