import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { selectBackend } from '../backend.js';
import { augmentBox, batchToInput, FULL_VIEW, validateRawImage, viewsToInput, type Box } from './preprocess.js';
import type { BackboneManifest } from '../model/manifest.js';
import { isEdgetuneError } from '../../errors.js';

const manifest = { inputSize: [8, 8], normalization: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } } as BackboneManifest;

describe('preprocess', () => {
  it('derives the same augmentation box from the same image hash and view', () => {
    assert.deepEqual(augmentBox('abc', 1, 200, 100), augmentBox('abc', 1, 200, 100));
    assert.notDeepEqual(augmentBox('abc', 1, 200, 100), augmentBox('abc', 2, 200, 100));
  });

  it('keeps random-resized crops inside the image, covering 60-100% of its area, some flipped', () => {
    let flipped = 0;
    for (let v = 1; v <= 200; v++) {
      const [y1, xa, y2, xb] = augmentBox(`img${v}`, v, 320, 240);
      const [x1, x2] = xa > xb ? (flipped++, [xb, xa]) : [xa, xb];
      for (const c of [y1, x1, y2, x2]) assert.ok(c >= 0 && c <= 1 + 1e-9, `coordinate ${c} outside [0, 1]`);
      const area = (y2 - y1) * (x2 - x1);
      assert.ok(area >= 0.6 - 1e-6 && area <= 1 + 1e-6, `area ${area}`);
    }
    assert.ok(flipped > 50 && flipped < 150, `${flipped} of 200 views flipped`);
  });

  it('normalizes pixels per the manifest: 0 -> -1 and 255 -> 1 for mean 0.5, std 0.5', async () => {
    await tf.setBackend('cpu');
    const data = new Uint8Array(4 * 4 * 4);
    for (let i = 0; i < 16; i++) data.fill(i < 8 ? 0 : 255, i * 4, i * 4 + 4);
    const x = tf.tidy(() => viewsToInput({ data, width: 4, height: 4, channels: 4 }, [FULL_VIEW], manifest));
    assert.deepEqual(x.shape, [1, 8, 8, 3]);
    const v = await x.data();
    x.dispose();
    assert.ok(Math.abs(v[0]! + 1) < 1e-5 && Math.abs(v[v.length - 1]! - 1) < 1e-5);
  });

  it('normalizes with the bits of a multiply then a subtract, on WASM and CPU, for the bundled backbones, RGB and RGBA', async () => {
    const data = Uint8Array.from({ length: 37 * 23 * 3 }, (_, i) => (i * 97) % 256);
    // The same pixels with an alpha channel, as a canvas's ImageData holds them.
    const rgba = Uint8ClampedArray.from({ length: 37 * 23 * 4 }, (_, i) => (i % 4 === 3 ? (i * 31) % 256 : data[(i >> 2) * 3 + (i % 4)]!));
    for (const id of ['mobilenet_v2_140', 'mobilenet_v2']) {
      const real = JSON.parse(readFileSync(new URL(`../../../models/${id}/manifest.json`, import.meta.url), 'utf8')) as BackboneManifest;
      const { mean, std } = real.normalization;
      for (const [backend, img] of [['wasm', { data, channels: 3 }], ['cpu', { data, channels: 3 }], ['wasm', { data: rgba, channels: 4 }], ['cpu', { data: rgba, channels: 4 }]] as const) {
        await selectBackend({ backends: [backend] });
        const [got, want] = tf.tidy(() => {
          const x = viewsToInput({ ...img, width: 37, height: 23 }, [FULL_VIEW, [0.1, 0.9, 0.8, 0.2]], real);
          const crops = tf.concat([
            tf.image.resizeBilinear(tf.tensor4d(data, [1, 23, 37, 3], 'float32'), real.inputSize as [number, number], false, true),
            tf.image.cropAndResize(tf.tensor4d(data, [1, 23, 37, 3], 'float32'), tf.tensor2d([[0.1, 0.9, 0.8, 0.2]]), [0], real.inputSize as [number, number], 'bilinear'),
          ]);
          return [x, tf.sub(tf.mul(crops, tf.tensor1d(std.map((v) => 1 / (255 * v)))), tf.tensor1d(mean.map((m, i) => m / std[i]!)))];
        });
        const [a, b] = [got!.dataSync() as Float32Array, want!.dataSync() as Float32Array];
        tf.dispose([got!, want!]);
        const differing = a.reduce((n, v, i) => n + (v === b[i] ? 0 : 1), 0);
        assert.equal(differing, 0, `${id} on ${backend}, ${img.channels} channels: ${differing} of ${a.length} values differ`);
      }
    }
  });

  it('builds a batch of many images bit for bit as each view alone, on WASM and CPU', async () => {
    const real = JSON.parse(readFileSync(new URL('../../../models/mobilenet_v2_140/manifest.json', import.meta.url), 'utf8')) as BackboneManifest;
    const img = (w: number, h: number, channels: 3 | 4, seed: number) => ({ width: w, height: h, channels, data: Uint8Array.from({ length: w * h * channels }, (_, i) => (i * seed) % 256) });
    const crop: Box = [0.1, 0.9, 0.8, 0.2];
    // Same-size full views (one shared resize), a size change, an RGB image, and images with several views.
    const items = [
      { img: img(37, 23, 4, 97), boxes: [FULL_VIEW] },
      { img: img(37, 23, 4, 89), boxes: [FULL_VIEW] },
      { img: img(20, 30, 4, 83), boxes: [FULL_VIEW] },
      { img: img(37, 23, 3, 79), boxes: [FULL_VIEW] },
      { img: img(37, 23, 4, 73), boxes: [FULL_VIEW, crop, [0.2, 0.1, 0.9, 0.7] as Box, FULL_VIEW] },
      { img: img(37, 23, 4, 71), boxes: [crop] },
      { img: img(37, 23, 4, 67), boxes: [FULL_VIEW] },
    ];
    // All RGBA (a browser's batch: alpha kept until the normalization), and mixed with RGB.
    const rgba = items.filter((it) => it.img.channels === 4);
    for (const batch of [rgba, items]) {
      for (const backend of ['wasm', 'cpu'] as const) {
        await selectBackend({ backends: [backend] });
        const [got, want] = tf.tidy(() => [
          batchToInput(batch, real),
          tf.concat(batch.flatMap(({ img, boxes }) => boxes.map((b) => viewsToInput(img, [b], real)))),
        ]);
        assert.deepEqual(got!.shape, [batch.length + 3, 224, 224, 3]);
        const [a, b] = [got!.dataSync() as Float32Array, want!.dataSync() as Float32Array];
        tf.dispose([got!, want!]);
        const differing = a.reduce((n, v, i) => n + (v === b[i] ? 0 : 1), 0);
        assert.equal(differing, 0, `${backend}, ${batch.length} images: ${differing} of ${a.length} values differ`);
      }
    }
  });

  it('rejects a pixel buffer that does not match its size with INVALID_IMAGE', () => {
    assert.throws(
      () => validateRawImage({ data: new Uint8Array(10), width: 4, height: 4, channels: 3 }),
      (e) => isEdgetuneError(e, 'INVALID_IMAGE') && /expected 4x4x3 = 48/.test(e.message),
    );
    assert.throws(() => validateRawImage({ data: new Uint8Array(0), width: 0, height: 0, channels: 3 }), (e) => isEdgetuneError(e, 'INVALID_IMAGE'));
  });
});
