// Node image decoding with sharp (libvips): JPEG, PNG, WebP, GIF, AVIF, TIFF,
// EXIF orientation, CMYK and 16-bit inputs, shrink-on-load for huge images.
import { readFile } from 'node:fs/promises';
import type sharpType from 'sharp';
import { EdgetuneError } from '../errors.js';
import type { RawImage } from '../types.js';

/** Formats accepted from files. SVG is refused: it is a document that may reference other files. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff'];
const FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'heif', 'tiff']);

/** Decoded images keep at most this longer side: enough for 224 px crops of 60% of the area. */
export const DECODE_MAX_SIDE = 448;
/** Refuse inputs beyond 100 megapixels before decoding them (a decompression-bomb guard). */
export const MAX_INPUT_PIXELS = 100_000_000;

let sharpModule: Promise<typeof sharpType> | undefined;

/**
 * sharp, loaded on first use. It is an optional peer dependency: browser apps
 * never install its native binaries; Node users who decode files need it.
 */
export function loadSharp(): Promise<typeof sharpType> {
  sharpModule ??= import('sharp').then(
    (m) => m.default,
    (err) => {
      sharpModule = undefined;
      throw new EdgetuneError('MISSING_DEPENDENCY', "Decoding image files in Node needs the 'sharp' package: npm install sharp", { cause: err });
    },
  );
  return sharpModule;
}

/**
 * Decodes encoded image bytes to RGB pixels, downscaled to at most `maxSide`,
 * transparent areas flattened onto white.
 *
 * @throws EdgetuneError INVALID_IMAGE naming `name` and the problem.
 */
export async function decodeImage(bytes: Uint8Array, name = 'image', maxSide = DECODE_MAX_SIDE): Promise<RawImage> {
  if (bytes.length === 0) throw new EdgetuneError('INVALID_IMAGE', `${name}: empty file`);
  const sharp = await loadSharp();
  try {
    const img = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'truncated' });
    const meta = await img.metadata();
    if (!meta.format || !FORMATS.has(meta.format)) {
      throw new EdgetuneError('INVALID_IMAGE', `${name}: unsupported format '${meta.format ?? 'unknown'}' (use JPEG, PNG, WebP, GIF, AVIF or TIFF)`);
    }
    const { data, info } = await img
      .rotate() // honour EXIF orientation
      .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new EdgetuneError('INVALID_IMAGE', `${name}: decoded to ${info.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
  } catch (err) {
    if (err instanceof EdgetuneError) throw err;
    const msg = (err as Error).message.replace(/\s+/g, ' ').trim();
    throw new EdgetuneError('INVALID_IMAGE', `${name}: cannot decode (${msg})`, { cause: err });
  }
}

/** Reads and decodes an image file. */
export async function decodeImageFile(path: string, maxSide = DECODE_MAX_SIDE): Promise<RawImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new EdgetuneError('INVALID_IMAGE', `${path}: cannot read (${(err as Error).message})`, { cause: err });
  }
  return decodeImage(bytes, path, maxSide);
}
