// The images an int8 export is calibrated on: the user's own training
// examples, taken in turn from each class (so a large class does not crowd out
// a small one), decoded and preprocessed as the backbone sees them. Nothing
// leaves the device; undecodable images are skipped.
import * as tf from '@tensorflow/tfjs-core';
import { EdgetuneError } from '../../../errors.js';
import type { Example } from '../../data/examples.js';
import { batchToInput, FULL_VIEW } from '../../data/preprocess.js';
import type { BackboneManifest } from '../manifest.js';
import type { RawImage } from '../../../types.js';

/** Images used when the caller does not say: enough for stable ranges, a few seconds of forward passes. */
export const DEFAULT_CALIBRATION_IMAGES = 64;
const BATCH = 8;

/** Up to `n` examples, round-robin over the classes in their order of appearance. */
export function calibrationSet(examples: readonly Example[], n: number): Example[] {
  const byClass = new Map<string, Example[]>();
  for (const e of examples) if (e.split !== 'val') byClass.set(e.label, [...(byClass.get(e.label) ?? []), e]);
  const queues = [...byClass.values()];
  const out: Example[] = [];
  for (let i = 0; out.length < n && queues.some((q) => i < q.length); i++) for (const q of queues) if (i < q.length && out.length < n) out.push(q[i]!);
  return out;
}

/** Normalized input batches [<=8, h, w, 3] of the calibration set; the consumer disposes each. */
export async function* calibrationBatches(examples: readonly Example[], manifest: BackboneManifest, n: number): AsyncGenerator<tf.Tensor4D> {
  const chosen = calibrationSet(examples, n);
  if (!chosen.length) throw new EdgetuneError('INVALID_ARGUMENT', 'An int8 export is calibrated on the training images: add examples first (the CLI: --calibration <data>)');
  let used = 0;
  for (let i = 0; i < chosen.length; i += BATCH) {
    const imgs: RawImage[] = [];
    for (const e of chosen.slice(i, i + BATCH)) {
      try {
        imgs.push(await e.source.load());
      } catch {
        // An image that cannot be decoded calibrates nothing; training skipped it too.
      }
    }
    if (!imgs.length) continue;
    used += imgs.length;
    yield tf.tidy(() => batchToInput(imgs.map((img) => ({ img, boxes: [FULL_VIEW] })), manifest));
  }
  if (!used) throw new EdgetuneError('INVALID_IMAGE', 'None of the calibration images could be decoded');
}
