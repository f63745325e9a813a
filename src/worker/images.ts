// Worker-side decoding: ImageBitmap / ImageData / Blob -> RGBA pixels, downscaled
// like the Node path (longer side <= 448) and flattened onto white.
import { EdgetuneError } from '../errors.js';
import type { RawImage } from '../types.js';
import type { WorkerImage } from './api.js';

export const DECODE_MAX_SIDE = 448;

async function toBitmap(img: WorkerImage, what: string): Promise<ImageBitmap | ImageData> {
  if (typeof Blob !== 'undefined' && img instanceof Blob) {
    if (img.size === 0) throw new EdgetuneError('INVALID_IMAGE', `${what}: empty file`);
    if (img.type === 'image/svg+xml') throw new EdgetuneError('INVALID_IMAGE', `${what}: SVG is not supported (use JPEG, PNG or WebP)`);
    try {
      return await createImageBitmap(img);
    } catch (err) {
      throw new EdgetuneError('INVALID_IMAGE', `${what}: cannot decode (${(err as Error).message})`, { cause: err });
    }
  }
  return img as ImageBitmap | ImageData;
}

/** Decodes one image to RGBA pixels; throws INVALID_IMAGE for unusable input (closed bitmap, zero size, bad data). */
export async function decodeWorkerImage(img: WorkerImage, what = 'image'): Promise<RawImage> {
  const src = await toBitmap(img, what);
  const { width, height } = src;
  if (!width || !height) throw new EdgetuneError('INVALID_IMAGE', `${what}: has no pixels (${width}x${height}; a closed ImageBitmap?)`);
  const scale = Math.min(1, DECODE_MAX_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new EdgetuneError('INTERNAL', 'OffscreenCanvas 2d context is unavailable');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, h);
  if (src instanceof ImageData) {
    // ImageData cannot be drawn scaled directly: put it on its own canvas first.
    const full = new OffscreenCanvas(width, height);
    full.getContext('2d')!.putImageData(src, 0, 0);
    ctx.drawImage(full, 0, 0, w, h);
  } else {
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(src, 0, 0, w, h);
    src.close();
  }
  const data = ctx.getImageData(0, 0, w, h).data;
  return { data, width: w, height: h, channels: 4 };
}
