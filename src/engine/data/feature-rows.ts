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

  /** Rows `ids`, in that order, as a [ids.length, dim] tensor (the caller's to dispose). */
  gather(ids: readonly number[]): tf.Tensor2D {
    const { data, dim } = this;
    const out = new Float32Array(ids.length * dim);
    ids.forEach((r, i) => out.set(data.subarray(r * dim, (r + 1) * dim), i * dim));
    return tf.tensor2d(out, [ids.length, dim]);
  }
}
