// Generated images as the DOM objects a page has (for the browser test and bench pages).
import type { RawImage } from '../types.js';

/** RGB pixels -> ImageData (opaque alpha). */
export function toImageData(img: RawImage): ImageData {
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    rgba.set(img.data.subarray(i * img.channels, i * img.channels + 3), i * 4);
    rgba[i * 4 + 3] = 255;
  }
  return new ImageData(rgba, img.width, img.height);
}

/** RGB pixels -> a canvas holding them. */
export function toCanvas(img: RawImage): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = img.width;
  c.height = img.height;
  c.getContext('2d')!.putImageData(toImageData(img), 0, 0);
  return c;
}
