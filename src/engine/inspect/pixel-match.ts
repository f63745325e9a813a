// Is one picture a copy of another (resized, recompressed, cropped by up to
// 10% a side)? Pooled embeddings cannot say: a re-encoded crop moves as far as
// a look-alike does (docs/inspect.md). Pixels can, once aligned: the copy is a
// rescaled window of the original, so a search over windows finds a
// near-perfect match for a copy and none for a different picture of the same
// kind of thing. Grey thumbnails keep it cheap: a coarse search at 16x16, then
// a refinement at 32x32 around the best window.
import type { RawImage } from '../../types.js';

/** A picture's grey thumbnails, luminance 0..1, squashed to squares (as the backbone sees it). */
export interface Thumbs {
  t16: Float32Array;
  t32: Float32Array;
  t64: Float32Array;
  /** Mean red, green and blue, 0..1 (transparent pixels white). */
  rgb: [number, number, number];
}

/** Largest crop searched, as a share of each side (the copies: up to 10%). */
export const MAX_CROP = 0.1;

/** Area-averaged grey thumbnail, side x side; transparent pixels count as white. */
export function greyThumb(img: RawImage, side: number): Float32Array {
  const { data, width, height, channels } = img;
  const out = new Float32Array(side * side);
  const weight = new Float32Array(side * side);
  for (let y = 0; y < height; y++) {
    const ty = Math.min(side - 1, Math.floor((y * side) / height));
    for (let x = 0; x < width; x++) {
      const tx = Math.min(side - 1, Math.floor((x * side) / width));
      const p = (y * width + x) * channels;
      const a = channels === 4 ? data[p + 3]! / 255 : 1;
      const lum = (0.299 * data[p]! + 0.587 * data[p + 1]! + 0.114 * data[p + 2]!) / 255;
      const t = ty * side + tx;
      out[t] = out[t]! + lum * a + (1 - a);
      weight[t] = weight[t]! + 1;
    }
  }
  // A picture smaller than the thumbnail leaves cells no pixel fell in: they take the pixel under their centre.
  for (let ty = 0; ty < side; ty++) {
    for (let tx = 0; tx < side; tx++) {
      const t = ty * side + tx;
      if (weight[t]) out[t] = out[t]! / weight[t]!;
      else {
        const p = (Math.floor(((ty + 0.5) * height) / side) * width + Math.floor(((tx + 0.5) * width) / side)) * channels;
        const a = channels === 4 ? data[p + 3]! / 255 : 1;
        out[t] = ((0.299 * data[p]! + 0.587 * data[p + 1]! + 0.114 * data[p + 2]!) / 255) * a + (1 - a);
      }
    }
  }
  return out;
}

/** Half the side, each pixel the mean of a 2x2 block. */
function halve(src: Float32Array, n: number): Float32Array {
  const m = n / 2;
  const out = new Float32Array(m * m);
  for (let y = 0; y < m; y++) {
    for (let x = 0; x < m; x++) {
      const i = 2 * y * n + 2 * x;
      out[y * m + x] = (src[i]! + src[i + 1]! + src[i + n]! + src[i + n + 1]!) / 4;
    }
  }
  return out;
}

function meanColour(img: RawImage): [number, number, number] {
  const { data, channels } = img;
  const sum = [0, 0, 0];
  const n = img.width * img.height;
  for (let p = 0; p < n * channels; p += channels) {
    const a = channels === 4 ? data[p + 3]! / 255 : 1;
    for (let c = 0; c < 3; c++) sum[c]! += (data[p + c]! / 255) * a + (1 - a);
  }
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

export function thumbsOf(img: RawImage): Thumbs {
  const t64 = greyThumb(img, 64);
  const t32 = halve(t64, 64);
  return { t16: halve(t32, 32), t32, t64, rgb: meanColour(img) };
}

/**
 * Largest difference of mean red, green or blue between a picture and its copy:
 * resizing, recompressing and a light crop keep the colours; the same pattern
 * in other colours (which grey thumbnails cannot see) is another picture.
 */
export const MAX_COLOUR_SHIFT = 0.1;

/** Bilinear taps along one axis: for each of m outputs, the first input index and the second's weight. */
function taps(n: number, start: number, w: number, m: number, index: Int32Array, frac: Float32Array): void {
  const step = w / m;
  for (let k = 0; k < m; k++) {
    const at = Math.min(n - 1.001, Math.max(0, start + (k + 0.5) * step - 0.5));
    index[k] = Math.floor(at);
    frac[k] = at - index[k]!;
  }
}

/** The window [x0, x0+w) x [y0, y0+w) of the n x n picture `src`, resampled (bilinear) to m x m into `out`. */
// Scratch taps, reused by every window (thumbnails are at most 64 wide): allocation per window dominated the search.
const ix = new Int32Array(64);
const fx = new Float32Array(64);
const iy = new Int32Array(64);
const fy = new Float32Array(64);

function sampleWindow(src: Float32Array, n: number, x0: number, y0: number, w: number, out: Float32Array, m: number): void {
  taps(n, x0, w, m, ix, fx);
  taps(n, y0, w, m, iy, fy);
  for (let y = 0; y < m; y++) {
    const row = iy[y]! * n;
    const wy = fy[y]!;
    for (let x = 0; x < m; x++) {
      const i = row + ix[x]!;
      const wx = fx[x]!;
      const top = src[i]! + (src[i + 1]! - src[i]!) * wx;
      const bottom = src[i + n]! + (src[i + n + 1]! - src[i + n]!) * wx;
      out[y * m + x] = top + (bottom - top) * wy;
    }
  }
}

/** Zero-mean normalized cross-correlation of two equal-length pictures (1: equal up to brightness and contrast). */
export function ncc(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) (ma += a[i]!), (mb += b[i]!);
  ma /= n;
  mb /= n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]! - ma;
    const y = b[i]! - mb;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  // Two flat pictures (blank frames) are the same picture.
  if (aa < 1e-9 || bb < 1e-9) return aa < 1e-9 && bb < 1e-9 ? 1 : 0;
  return ab / Math.sqrt(aa * bb);
}

interface Window {
  crop: number;
  x: number;
  y: number;
  score: number;
}

/** Best window of `src` (n x n) matching `target` (m x m), by NCC, over `windows`. */
function search(src: Float32Array, n: number, target: Float32Array, m: number, windows: Iterable<[number, number, number]>): Window {
  const size = m * m;
  // The target centred once: with it, each window's NCC is one pass over the window.
  let mean = 0;
  for (let i = 0; i < size; i++) mean += target[i]!;
  mean /= size;
  const centred = new Float32Array(size);
  let tt = 0;
  for (let i = 0; i < size; i++) {
    centred[i] = target[i]! - mean;
    tt += centred[i]! * centred[i]!;
  }
  const buf = new Float32Array(size);
  let best: Window = { crop: 0, x: 0, y: 0, score: -2 };
  for (const [crop, x, y] of windows) {
    sampleWindow(src, n, x, y, n * (1 - crop), buf, m);
    let sum = 0;
    let sq = 0;
    let dot = 0;
    for (let i = 0; i < size; i++) {
      const v = buf[i]!;
      sum += v;
      sq += v * v;
      dot += v * centred[i]!;
    }
    const ww = sq - (sum * sum) / size;
    // Flat against flat is the same picture (blank frames); flat against detail is not.
    const score = tt < 1e-9 || ww < 1e-9 ? (tt < 1e-9 && ww < 1e-9 ? 1 : 0) : dot / Math.sqrt(ww * tt);
    if (score > best.score) best = { crop, x, y, score };
  }
  return best;
}

/** Every window with crop 0..MAX_CROP (steps of `cropStep`) at whole-pixel offsets of an n-pixel side. */
function* grid(n: number, cropStep: number): Generator<[number, number, number]> {
  for (let crop = 0; crop <= MAX_CROP + 1e-9; crop += cropStep) {
    const room = n * crop;
    for (let y = 0; y <= room + 1e-9; y++) for (let x = 0; x <= room + 1e-9; x++) yield [crop, x, y];
  }
}

/** Windows near `w` (found on a side of n/2 pixels) on a side of n pixels. */
function* around(w: Window, n: number, cropStep: number): Generator<[number, number, number]> {
  for (const dc of [-cropStep, 0, cropStep]) {
    const crop = w.crop + dc;
    if (crop < -1e-9 || crop > MAX_CROP + 1e-9) continue;
    const room = n * crop;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const [x, y] = [w.x * 2 + dx, w.y * 2 + dy];
        if (x >= 0 && y >= 0 && x <= room + 1e-9 && y <= room + 1e-9) yield [Math.max(0, crop), x, y];
      }
    }
  }
}

/** How well `b` is a rescaled window of `a`: the best NCC of a coarse search at 16x16, refined at 32x32. */
function oneWay(a: Thumbs, b: Thumbs): number {
  const coarse = search(a.t32, 32, b.t16, 16, grid(32, 0.02));
  return search(a.t64, 64, b.t32, 32, around(coarse, 64, 0.02)).score;
}

/**
 * Whether either picture is a rescaled window of the other: 1 for a copy, lower
 * for a different picture. Both ways round in full: the coarse search alone
 * picks the wrong way round for some copies (measured).
 */
export function copyScore(a: Thumbs, b: Thumbs): number {
  if (a.rgb.some((v, c) => Math.abs(v - b.rgb[c]!) > MAX_COLOUR_SHIFT)) return 0;
  return Math.max(oneWay(a, b), oneWay(b, a));
}
