// Each bundled backbone gets its input in the range its weights were trained
// for. The reference is the code that ships the weights: nsfwjs' own
// preprocessing (pixels / 255) in front of its own full classifier. Our
// manifest's normalization in front of the same classifier must agree.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { loadBundled, nsfwjsDir } from '../../../scripts/convert-backbones.mjs';
import { syntheticImage, SYNTHETIC_CLASSES } from '../../testing/synthetic.js';
import { selectBackend } from '../backend.js';
import { parseManifest, type BackboneManifest } from './manifest.js';
import { FULL_VIEW, viewsToInput } from '../data/preprocess.js';
import type { RawImage } from '../../types.js';

const require = createRequire(import.meta.url);
const { NSFWJS } = require('nsfwjs') as { NSFWJS: new (io: tf.io.IOHandler, o: { size: number; type?: 'graph' }) => Reference };
interface Reference {
  load(): Promise<void>;
  infer(img: tf.Tensor3D): tf.Tensor2D;
  /** A GraphModel ('graph') or a LayersModel: both predict() their classifier output. */
  model: { predict(x: tf.Tensor): tf.Tensor };
  dispose(): void;
}

const BACKBONES = [
  { id: 'mobilenet_v2_140', dir: 'mobilenet_v2_mid', type: 'graph' as const },
  { id: 'mobilenet_v2', dir: 'mobilenet_v2', type: undefined },
];

/** The full nsfwjs classifier from the package's own files, behind nsfwjs' own class. */
async function reference(dir: string, type: 'graph' | undefined): Promise<Reference> {
  const { modelJson, buf } = loadBundled(join(nsfwjsDir().dir, 'dist/models', dir)) as { modelJson: Record<string, unknown> & { weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] }; buf: Buffer };
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: modelJson.modelTopology as object,
    weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
    weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer,
    ...(modelJson.format ? { format: modelJson.format as string } : {}),
  };
  const ref = new NSFWJS(tf.io.fromMemory(artifacts), { size: 224, ...(type ? { type } : {}) });
  await ref.load();
  return ref;
}

/** 224x224 RGB images (no resize on either side): synthetic patterns with strong colours and edges. */
function images(): RawImage[] {
  return SYNTHETIC_CLASSES.slice(0, 4).map((c, i) => syntheticImage(c, 7 + i, 224));
}

/** Largest difference between nsfwjs' output and the same classifier fed by `manifest`'s preprocessing. */
function disagreement(ref: Reference, imgs: RawImage[], normalization: BackboneManifest['normalization'], manifest: BackboneManifest): number {
  return tf.tidy(() => {
    let worst = 0;
    for (const img of imgs) {
      const theirs = ref.infer(tf.tensor3d(img.data as Uint8Array, [img.height, img.width, img.channels], 'int32'));
      const x = viewsToInput(img, [FULL_VIEW], { ...manifest, normalization });
      const ours = ref.model.predict(x);
      worst = Math.max(worst, tf.max(tf.abs(tf.sub(theirs, ours))).dataSync()[0]!);
    }
    return worst;
  });
}

describe('backbone input range (against nsfwjs, the code that ships the weights)', () => {
  before(async () => {
    await selectBackend({ backends: ['wasm', 'cpu'] });
  });

  for (const { id, dir, type } of BACKBONES) {
    it(`${id}: the manifest's normalization reproduces nsfwjs' classifier output; [-1, 1] would not`, async () => {
      const manifest = parseManifest(readFileSync(new URL(`../../../models/${id}/manifest.json`, import.meta.url), 'utf8'));
      const ref = await reference(dir, type);
      try {
        const imgs = images();
        const right = disagreement(ref, imgs, manifest.normalization, manifest);
        assert.ok(right < 1e-4, `${id}: max |p_nsfwjs - p_manifest| = ${right}`);
        // The check can fail: the other common convention moves the outputs far more.
        const wrong = manifest.normalization.mean[0] === 0 ? { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } : { mean: [0, 0, 0], std: [1, 1, 1] };
        const off = disagreement(ref, imgs, wrong as BackboneManifest['normalization'], manifest);
        assert.ok(off > 0.02, `${id}: another range changes the outputs by only ${off}`);
      } finally {
        ref.dispose();
      }
    });
  }
});
