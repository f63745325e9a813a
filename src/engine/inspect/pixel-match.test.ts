// The pixel check on pictures whose relation is known: crops and rescales of
// one picture, different pictures of the same kind, a mirror, blank frames.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { syntheticImage } from '../../testing/synthetic.js';
import type { RawImage } from '../../types.js';
import { copyScore, greyThumb, ncc, thumbsOf } from './pixel-match.js';

/** The window [x0, x0+w) x [y0, y0+h) of `img`, resized (nearest) to outW x outH: a cropped, rescaled copy. */
function cropResize(img: RawImage, x0: number, y0: number, w: number, h: number, outW: number, outH: number): RawImage {
  const data = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++)
    for (let x = 0; x < outW; x++)
      for (let c = 0; c < 3; c++) data[(y * outW + x) * 3 + c] = img.data[((y0 + Math.floor((y * h) / outH)) * img.width + x0 + Math.floor((x * w) / outW)) * 3 + c]!;
  return { data, width: outW, height: outH, channels: 3 };
}

const mirror = (img: RawImage): RawImage => {
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) for (let c = 0; c < 3; c++) data[(y * img.width + x) * 3 + c] = img.data[(y * img.width + img.width - 1 - x) * 3 + c]!;
  return { ...img, data };
};

/** A picture with detail everywhere: three discs of different seeds side by side, and a gradient. */
function busy(seed: number): RawImage {
  const parts = [0, 1, 2].map((k) => syntheticImage('disc', seed * 3 + k, 64));
  const w = 192;
  const h = 64;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = Math.round(0.8 * parts[Math.floor(x / 64)]!.data[(y * 64 + (x % 64)) * 3 + c]! + 0.2 * ((x + y) % 256));
  return { data, width: w, height: h, channels: 3 };
}

describe('pixel-match', () => {
  it('greyThumb averages areas into luminance 0..1, transparent pixels white', () => {
    const img: RawImage = { data: Uint8Array.from([255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 255]), width: 2, height: 2, channels: 4 };
    assert.deepEqual([...greyThumb(img, 2)], [1, 0, 1, 0]);
    assert.deepEqual([...greyThumb(img, 1)], [0.5]);
  });

  it('ncc: 1 for equal pictures up to brightness and contrast, -1 for the negative, flat pictures alike', () => {
    const a = Float32Array.from([0.1, 0.5, 0.3, 0.9]);
    assert.ok(Math.abs(ncc(a, a.map((v) => 0.2 + 0.5 * v)) - 1) < 1e-6);
    assert.ok(Math.abs(ncc(a, a.map((v) => 1 - v)) + 1) < 1e-6);
    assert.equal(ncc(new Float32Array(4).fill(0.2), new Float32Array(4).fill(0.7)), 1);
    assert.equal(ncc(new Float32Array(4).fill(0.2), a), 0);
  });

  it('a cropped (up to 10% a side) and rescaled copy scores near 1, either way round', () => {
    const original = busy(1);
    const copies = [
      cropResize(original, 0, 0, 192, 64, 96, 32),
      cropResize(original, 10, 3, 173, 58, 260, 87),
      cropResize(original, 19, 6, 173, 58, 120, 40),
      cropResize(original, 5, 0, 182, 61, 182, 61),
    ];
    for (const [k, copy] of copies.entries()) {
      const score = copyScore(thumbsOf(original), thumbsOf(copy));
      assert.ok(score >= 0.97, `copy ${k}: ${score}`);
      assert.equal(copyScore(thumbsOf(copy), thumbsOf(original)), score, 'symmetric');
    }
  });

  it('different pictures of the same kind, and a mirror image, score clearly lower than copies', () => {
    const original = busy(1);
    const copy = copyScore(thumbsOf(original), thumbsOf(cropResize(original, 10, 3, 173, 58, 130, 44)));
    for (const [what, other] of [['another picture', busy(2)], ['a mirror image', mirror(original)]] as const) {
      const score = copyScore(thumbsOf(original), thumbsOf(other));
      assert.ok(score < copy - 0.1, `${what}: ${score} against a copy's ${copy}`);
    }
  });

  it('the same pattern in other colours is another picture (grey thumbnails alone would call it a copy)', () => {
    const original = busy(1);
    const recoloured = { ...original, data: original.data.map((v, i) => (i % 3 === 0 ? 255 - v : v)) };
    const swapped = { ...original, data: Uint8Array.from(original.data, (v, i) => original.data[i - (i % 3) + ((i % 3) + 1) % 3]!) };
    assert.ok(copyScore(thumbsOf(original), thumbsOf(cropResize(original, 10, 3, 173, 58, 130, 44))) >= 0.97);
    for (const other of [recoloured, swapped]) assert.equal(copyScore(thumbsOf(original), thumbsOf(other)), 0);
  });
});
