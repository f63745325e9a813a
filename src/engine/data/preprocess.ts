// Pixels -> normalized backbone input, with random-resized-crop + flip views
// expressed as crop boxes so one tfjs op does crop, flip and resize.
import * as tf from '@tensorflow/tfjs-core';
import { EdgetuneError } from '../../errors.js';
import type { RawImage } from '../../types.js';
import type { BackboneManifest } from '../model/manifest.js';
import { tensorFromBytes } from '../kernels/wasm-kernels.js';
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
 * Writes the image's values as float32 into `out` at `offset`, `channels` per pixel:
 * all of them (a native typed-array conversion), or RGB from RGBA where the batch mixes
 * both. The same values as casting its bytes in tfjs (exact), without an int32
 * tensor and a Cast.
 */
function writePixels(img: RawImage, out: Float32Array, offset: number, channels: 3 | 4): void {
  const { data } = img;
  if (img.channels === channels) {
    out.set(data, offset);
    return;
  }
  const n = img.width * img.height;
  for (let i = 0, j = 0, o = offset; i < n; i++, j += 4, o += 3) {
    out[o] = data[j]!;
    out[o + 1] = data[j + 1]!;
    out[o + 2] = data[j + 2]!;
  }
}

/** Images of one size as one float32 batch [n, height, width, channels]. */
function pixels(imgs: RawImage[], channels: 3 | 4): tf.Tensor4D {
  const { width, height } = imgs[0]!;
  const shape: [number, number, number, number] = [imgs.length, height, width, channels];
  // On WASM, straight into the heap (a batch of 448x336 RGBA images is ~40 MB as float32).
  if (imgs.every((img) => img.channels === channels)) {
    const t = tensorFromBytes(imgs.map((img) => img.data), shape);
    if (t) return t as tf.Tensor4D;
  }
  const per = width * height * channels;
  const out = new Float32Array(imgs.length * per);
  imgs.forEach((img, i) => writePixels(img, out, i * per, channels));
  return tf.tensor4d(out, shape, 'float32');
}

const isFull = (v: Box) => v.every((c, i) => c === FULL_VIEW[i]);

/**
 * The views of one image, resized: the full view with half-pixel centers (as PIL
 * and torchvision do), consecutive crops in one cropAndResize (crop, flip and resize in one op).
 */
function resizeViews(img: RawImage, views: Box[], [h, w]: [number, number], channels: 3 | 4): tf.Tensor4D[] {
  const x = pixels([img], channels);
  const parts: tf.Tensor4D[] = [];
  for (let i = 0; i < views.length; ) {
    if (isFull(views[i]!)) {
      parts.push(tf.image.resizeBilinear(x, [h, w], false, true));
      i++;
      continue;
    }
    let j = i;
    while (j < views.length && !isFull(views[j]!)) j++;
    parts.push(tf.image.cropAndResize(x, tf.tensor2d(views.slice(i, j)), new Array(j - i).fill(0), [h, w], 'bilinear'));
    i = j;
  }
  return parts;
}

/**
 * Builds the normalized backbone input for views of several images, in order:
 * [total views, h, w, 3] float32. Full views of consecutive same-size images (the
 * usual batch: camera frames, files decoded to one size) share one buffer, one
 * resize and one normalization; the values are those of each view built alone.
 * RGBA batches (a browser's pixels) keep their alpha channel until the
 * normalization drops it: resizing a fourth channel costs less than splitting it
 * off in JavaScript (~1.5 ms per 448x336 image in Chromium).
 * Call inside tf.tidy.
 */
export function batchToInput(items: { img: RawImage; boxes: Box[] }[], manifest: BackboneManifest): tf.Tensor4D {
  const size = manifest.inputSize;
  const channels = items.every((it) => it.img.channels === 4) ? 4 : 3;
  const parts: tf.Tensor4D[] = [];
  let run: RawImage[] = [];
  const flush = () => {
    if (run.length) parts.push(tf.image.resizeBilinear(pixels(run, channels), size, false, true));
    run = [];
  };
  for (const { img, boxes } of items) {
    const full = boxes.length === 1 && isFull(boxes[0]!);
    if (!full || (run.length && (run[0]!.width !== img.width || run[0]!.height !== img.height))) flush();
    if (full) run.push(img);
    else parts.push(...resizeViews(img, boxes, size, channels));
  }
  flush();
  return normalize(parts.length === 1 ? parts[0]! : tf.concat(parts, 0), manifest.normalization);
}

/** The normalized backbone input for several views of one image: [views.length, h, w, 3] float32. Call inside tf.tidy. */
export function viewsToInput(img: RawImage, views: Box[], manifest: BackboneManifest): tf.Tensor4D {
  return batchToInput([{ img, boxes: views }], manifest);
}

/**
 * x / (255 * std) - mean / std per channel, as one 1x1 convolution with a diagonal
 * filter and a bias: tfjs-backend-wasm's broadcasting Multiply took ~4 ms per
 * 224x224 image (10x a same-shape one), the convolution ~1 ms for both steps. The
 * values are bit-identical to a multiply then a subtract (each output channel is one
 * float32 product plus the bias; the zero taps, alpha's included, add exact zeros),
 * so cached embeddings stay valid.
 */
function normalize(x: tf.Tensor4D, { mean, std }: BackboneManifest['normalization']): tf.Tensor4D {
  const c = std.length;
  const inChannels = x.shape[3];
  const filter = new Float32Array(inChannels * c);
  std.forEach((s, i) => (filter[i * c + i] = 1 / (255 * s)));
  const bias = tf.tensor1d(mean.map((m, i) => -(m / std[i]!)));
  return tf.fused.conv2d({ x, filter: tf.tensor4d(filter, [1, 1, inChannels, c]), strides: 1, pad: 'valid', bias });
}
