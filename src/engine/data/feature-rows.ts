// Embeddings kept on the host, one row per view. Training batches are copied out
// row by row: tfjs-backend-wasm's gather walks its output element by element
// (~4 ms for 32 rows of 1,792 floats), which made it most of a head training step.
import * as tf from '@tensorflow/tfjs-core';

export class FeatureRows {
  constructor(
    /** Row-major values, `dim` per row. */
    readonly data: Float32Array,
    readonly dim: number,
  ) {}

  get count(): number {
    return this.data.length / this.dim;
  }

  /**
   * Rows `ids`, in that order, as a [ids.length, dim] tensor (the caller's to dispose).
   * With `standardize`, each value becomes (v - mean) * invStd, rounded as two float32
   * operations (the same bits as tfjs's sub then mul), which spares a training step two
   * full-batch kernels and their pass over the batch.
   */
  gather(ids: readonly number[], standardize?: Standardization): tf.Tensor2D {
    const { data, dim } = this;
    const out = new Float32Array(ids.length * dim);
    if (!standardize) {
      ids.forEach((r, i) => out.set(data.subarray(r * dim, (r + 1) * dim), i * dim));
    } else {
      const { mean, invStd } = standardize;
      const f = Math.fround;
      ids.forEach((r, i) => {
        for (let j = 0, src = r * dim, dst = i * dim; j < dim; j++) out[dst + j] = f(data[src + j]! - mean[j]!) * invStd[j]!;
      });
    }
    return tf.tensor2d(out, [ids.length, dim]);
  }
}

/** Per-feature mean and 1 / std, on the host. */
export interface Standardization {
  mean: Float32Array;
  invStd: Float32Array;
}
