// Class prototypes (normalized mean feature per class) and an open-set
// rejection threshold: an input whose cosine similarity to every prototype is
// below it is answered "unknown". The same prototypes give instant answers
// before any head is trained (nearest class mean).
import * as tf from '@tensorflow/tfjs-core';

/**
 * Per-class threshold = mean - REJECT_SIGMAS * std of the class's calibration
 * similarities: a Gaussian tail estimate, which small calibration sets (a few
 * images per class) support better than an empirical quantile.
 */
export const REJECT_SIGMAS = 4;
/** Softmax temperature over cosine similarities for prototype answers. */
export const PROTOTYPE_TEMPERATURE = 10;
/** Below this many validation examples, calibration uses every example instead. */
const MIN_CALIBRATION = 10;

export class OpenSet {
  private constructor(
    /** [classes, features], L2-normalized rows. */
    readonly prototypes: tf.Tensor2D,
    /** Per class: below this cosine similarity to its prototype, an input is unknown. */
    readonly thresholds: number[],
    readonly calibratedOn: number,
  ) {}

  /**
   * Prototypes from the plain views of the training examples; the threshold is
   * per class from the similarities of validation examples to their own class prototype
   * (of every example when validation is too small, each training example then
   * compared with its class prototype computed without it: leave-one-out, so
   * the threshold is not fitted to images the prototypes already contain).
   *
   * @param features features of rows of the view table (disposed here)
   */
  static async fit(
    numClasses: number,
    labels: Int32Array,
    trainIdx: number[],
    valIdx: number[],
    features: (rows: number[]) => Promise<tf.Tensor2D>,
    views: number[][],
  ): Promise<OpenSet> {
    const calib = valIdx.length >= MIN_CALIBRATION ? valIdx : [...trainIdx, ...valIdx];
    const inTrain = new Set(trainIdx);
    const idx = [...trainIdx, ...calib.filter((i) => !inTrain.has(i))];
    const f = await features(idx.map((i) => views[i]![0]!));
    try {
      const { prototypes, ownSims } = tf.tidy(() => {
        const x = normalize(f);
        const onehot = tf.oneHot(tf.tensor1d(trainIdx.map((i) => labels[i]!), 'int32'), numClasses);
        // Per-class sums as onehot^T x (tfjs-backend-wasm has no UnsortedSegmentSum).
        const sums = tf.matMul(tf.transpose(onehot), tf.slice(x, [0, 0], [trainIdx.length, -1])) as tf.Tensor2D;
        const prototypes = normalize(sums);
        const pos = calib.map((i) => idx.indexOf(i));
        const xc = tf.gather(x, pos);
        let sims = tf.matMul(xc, prototypes, false, true);
        const own = tf.oneHot(tf.tensor1d(calib.map((i) => labels[i]!), 'int32'), numClasses);
        const loo = tf.tensor1d(calib.map((i) => (inTrain.has(i) ? 1 : 0)), 'float32');
        // Leave-one-out for training examples: cos(x, S_c - x) = (x.S_c - 1) / ||S_c - x|| (x has norm 1).
        const dots = tf.matMul(xc, sums, false, true);
        const sq = tf.sum(tf.square(sums), 1);
        const looSims = tf.div(tf.sub(dots, 1), tf.sqrt(tf.maximum(tf.add(tf.sub(sq, tf.mul(dots, 2)), 1), 1e-12)));
        const useLoo = tf.mul(own, tf.expandDims(loo, 1));
        sims = tf.add(tf.mul(sims, tf.sub(1, useLoo)), tf.mul(looSims, useLoo));
        return { prototypes, ownSims: tf.sum(tf.mul(sims, own), 1) };
      });
      const sims = await ownSims.data();
      ownSims.dispose();
      const byClass = Array.from({ length: numClasses }, () => [] as number[]);
      calib.forEach((i, k) => byClass[labels[i]!]!.push(sims[k]!));
      const all = [...sims];
      const thresholds = byClass.map((v) => gaussianThreshold(v.length >= 3 ? v : all));
      return new OpenSet(prototypes, thresholds, calib.length);
    } finally {
      f.dispose();
    }
  }

  /** From exported values (prototypes are copied). */
  static fromValues(prototypes: Float32Array, numClasses: number, thresholds: number[], calibratedOn: number): OpenSet {
    const d = prototypes.length / numClasses;
    // A copy: on the CPU backend a tensor would otherwise share the caller's array.
    return new OpenSet(tf.tensor2d(prototypes.slice(), [numClasses, d]), [...thresholds], calibratedOn);
  }

  /** Cosine similarity of each feature row to each prototype: [n, classes]. Call inside tf.tidy. */
  similarities(features: tf.Tensor2D): tf.Tensor2D {
    return tf.matMul(normalize(features), this.prototypes, false, true);
  }

  dispose(): void {
    this.prototypes.dispose();
  }
}

function gaussianThreshold(v: number[]): number {
  if (v.length < 2) return -1;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
  return mean - REJECT_SIGMAS * std;
}

function normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.add(tf.norm(x, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D);
}
