// Inference over a model held for the whole call: class probabilities and the
// open-set similarity for each image, then top-k rankings. Thresholds are read
// from the same model as the similarities, whatever fineTune swaps in meanwhile.
import * as tf from '@tensorflow/tfjs-core';
import { UNKNOWN_LABEL } from '../constants.js';
import type { Prediction, PredictOptions, RawImage } from '../types.js';
import type { Embedder } from './data/embed.js';
import type { ImageSource } from './data/examples.js';
import { PROTOTYPE_TEMPERATURE } from './model/open-set.js';
import type { Predictor } from './model/trained-model.js';

export interface Scores {
  labels: readonly string[];
  /** [n, classes] probabilities. */
  probs: Float32Array;
  /** Best cosine similarity to a class prototype, and that class. */
  bestSim: Float32Array;
  bestClass: Int32Array;
  /** The model's per-class rejection thresholds, when it has them. */
  thresholds?: number[];
  basis?: 'prototypes';
  /** Images that could not be decoded (with skipInvalid), by index. */
  invalid: Map<number, string>;
}

/** Most bytes a chunk's pass through a tail may hold. */
const INFERENCE_BYTES = 512 * 2 ** 20;

/**
 * Scores the plain view of each source. Sources with a content hash (files,
 * examples) read and fill the caches training uses; raw pixels (camera frames)
 * are computed and forgotten.
 */
export async function score(model: Predictor, embedder: Embedder, sources: (ImageSource | RawImage)[], batchSize: number, skipInvalid = false): Promise<Scores> {
  const k = model.labels.length;
  const probs = new Float32Array(sources.length * k);
  const bestSim = new Float32Array(sources.length);
  const bestClass = new Int32Array(sources.length);
  const invalid = new Map<number, string>();
  const width = model.openSet ? 2 * k : k;
  // A chunk through a tail holds all its activations at once (tf.tidy): a full model's are ~100x a partial one's.
  const step = model.tail ? Math.max(1, Math.min(batchSize, Math.floor(INFERENCE_BYTES / Math.max(1, model.tail.forwardBytesPerImage)))) : batchSize;
  for (let s = 0; s < sources.length; s += step) {
    const chunk = sources.slice(s, s + step);
    const features = await embedder.inferenceFeatures(chunk, s, model.tail?.cut ?? null, skipInvalid ? invalid : null);
    // One read per chunk (on WebGPU each read is a GPU round trip): probabilities, then similarities.
    let out: tf.Tensor;
    try {
      out = tf.tidy(() => {
        const emb = model.tail ? model.tail.apply(features as tf.Tensor4D) : (features as tf.Tensor2D);
        const sims = model.openSet?.similarities(emb);
        const p = model.head ? tf.softmax(model.head.logits(emb)) : tf.softmax(tf.mul(sims!, PROTOTYPE_TEMPERATURE));
        return sims ? tf.concat([p, sims], 1) : p;
      });
    } finally {
      features.dispose();
    }
    let vals: Float32Array;
    try {
      vals = (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
    chunk.forEach((_, i) => {
      probs.set(vals.subarray(i * width, i * width + k), (s + i) * k);
      let best = 0;
      for (let c = 1; model.openSet && c < k; c++) if (vals[i * width + k + c]! > vals[i * width + k + best]!) best = c;
      bestSim[s + i] = model.openSet ? vals[i * width + k + best]! : 1;
      bestClass[s + i] = best;
    });
  }
  return {
    labels: model.labels,
    probs,
    bestSim,
    bestClass,
    invalid,
    ...(model.openSet ? { thresholds: model.openSet.thresholds } : {}),
    ...(model.head ? {} : { basis: 'prototypes' as const }),
  };
}

/** Top-k predictions of image `i`, most probable first; `rejectUnknown` puts UNKNOWN_LABEL first for inputs far from their best class. */
export function rank(s: Scores, i: number, opts: PredictOptions): Prediction[] {
  const k = s.labels.length;
  const ranked: Prediction[] = s.labels
    .map((label, c) => ({ label, probability: s.probs[i * k + c]!, ...(s.basis ? { basis: s.basis } : {}) }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, opts.topK ?? Infinity);
  // Far from its best class (below that class's calibrated similarity): unknown.
  if (opts.rejectUnknown && s.thresholds && s.bestSim[i]! < s.thresholds[s.bestClass[i]!]!) {
    ranked.unshift({ label: UNKNOWN_LABEL, probability: 1 - ranked[0]!.probability });
  }
  return ranked;
}

/** The most probable class of image `i`. */
export function top1(s: Scores, i: number): number {
  const k = s.labels.length;
  let best = 0;
  for (let c = 1; c < k; c++) if (s.probs[i * k + c]! > s.probs[i * k + best]!) best = c;
  return best;
}
