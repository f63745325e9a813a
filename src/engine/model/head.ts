// The trainable classifier head: standardize -> [dense + ReLU] -> dense (logits).
// Standardization statistics are folded into the first layer on export, so the
// exported head is a plain tfjs Sequential model over raw embeddings.
import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential, type LayersModel } from '@tensorflow/tfjs-layers';
import type { Standardization } from '../data/feature-rows.js';

export interface HeadSpec {
  inputSize: number;
  numClasses: number;
  hiddenUnits: number;
}

export class Head {
  readonly kernels: tf.Variable[] = [];
  readonly biases: tf.Variable[] = [];

  private constructor(
    readonly spec: HeadSpec,
    /** Per-feature mean and 1/std of the training embeddings. */
    readonly mean: tf.Tensor1D,
    readonly invStd: tf.Tensor1D,
  ) {}

  /** A freshly initialized head (Glorot-uniform hidden kernels, zero output layer and biases), seeded. */
  static create(spec: HeadSpec, stats: { mean: tf.Tensor1D; invStd: tf.Tensor1D }, seed: number): Head {
    const head = new Head(spec, tf.keep(stats.mean), tf.keep(stats.invStd));
    const sizes = spec.hiddenUnits > 0 ? [spec.inputSize, spec.hiddenUnits, spec.numClasses] : [spec.inputSize, spec.numClasses];
    for (let i = 0; i + 1 < sizes.length; i++) {
      const [fanIn, fanOut] = [sizes[i]!, sizes[i + 1]!];
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      // The output layer starts at zero, as logistic regression does: a random start
      // adds seed-dependent noise that few-shot training does not wash out.
      const last = i + 2 === sizes.length;
      // Inside tidy: the initial values are freed, the variables kept.
      head.kernels.push(
        tf.tidy(() => tf.variable(last ? tf.zeros([fanIn, fanOut]) : tf.randomUniform([fanIn, fanOut], -limit, limit, 'float32', seed + i))),
      );
      head.biases.push(tf.tidy(() => tf.variable(tf.zeros([fanOut]))));
    }
    return head;
  }

  /** A head from exported weights (already folded: identity standardization). Does not take ownership of `weights`. */
  static fromWeights(spec: HeadSpec, weights: tf.Tensor[]): Head {
    const head = new Head(spec, tf.zeros([spec.inputSize]), tf.ones([spec.inputSize]));
    for (let i = 0; i < weights.length; i += 2) {
      head.kernels.push(tf.tidy(() => tf.variable(weights[i]!.clone())));
      head.biases.push(tf.tidy(() => tf.variable(weights[i + 1]!.clone())));
    }
    return head;
  }

  /**
   * A head for `labels` that starts from `prev` (trained on `prevLabels`): its
   * standardization and hidden layers are copied, output columns of shared
   * classes keep their weights. A new class with a mean embedding in `imprint`
   * (linear heads) starts from it, "imprinted" (Qi et al. 2018): its standardized
   * direction scaled to the existing columns' norm; otherwise at zero.
   */
  static async warmFrom(prev: Head, prevLabels: string[], labels: string[], imprint: Map<string, Float32Array> = new Map()): Promise<Head> {
    // Asynchronous reads: a synchronous GPU read on WebGPU is slow and, in a worker, fragile.
    const last = prev.kernels.length - 1;
    const [kd, bd, mu, inv] = await Promise.all([prev.kernels[last]!.data(), prev.biases[last]!.data(), prev.mean.data(), prev.invStd.data()]);
    const spec = { ...prev.spec, numClasses: labels.length };
    const head = new Head(spec, tf.keep(prev.mean.clone()), tf.keep(prev.invStd.clone()));
    const cols = labels.map((l) => prevLabels.indexOf(l));
    prev.kernels.forEach((k, i) => {
      const b = prev.biases[i]!;
      if (i < last) {
        head.kernels.push(tf.tidy(() => tf.variable(k.clone())));
        head.biases.push(tf.tidy(() => tf.variable(b.clone())));
        return;
      }
      const [rows, kOld] = [k.shape[0]!, k.shape[1]!];
      const kn = new Float32Array(rows * labels.length);
      const bn = new Float32Array(labels.length);
      let normSum = 0;
      for (let j = 0; j < kOld; j++) {
        let n2 = 0;
        for (let r = 0; r < rows; r++) n2 += kd[r * kOld + j]! ** 2;
        normSum += Math.sqrt(n2);
      }
      let biasMean = 0;
      for (let j = 0; j < kOld; j++) biasMean += bd[j]! / kOld;
      cols.forEach((j, c) => {
        const m = imprint.get(labels[c]!);
        if (j < 0 && m && prev.kernels.length === 1 && m.length === rows) {
          const z = Float32Array.from(m, (v, r) => (v - mu[r]!) * inv[r]!);
          const scale = normSum / kOld / (Math.hypot(...z) || 1);
          for (let r = 0; r < rows; r++) kn[r * labels.length + c] = z[r]! * scale;
          bn[c] = biasMean;
          return;
        }
        if (j < 0) return;
        for (let r = 0; r < rows; r++) kn[r * labels.length + c] = kd[r * kOld + j]!;
        bn[c] = bd[j]!;
      });
      head.kernels.push(tf.tidy(() => tf.variable(tf.tensor2d(kn, [rows, labels.length]))));
      head.biases.push(tf.tidy(() => tf.variable(tf.tensor1d(bn))));
    });
    return head;
  }

  /** The standardization statistics on the host (for FeatureRows.gather). */
  async standardization(): Promise<Standardization> {
    const [mean, invStd] = await Promise.all([this.mean.data() as Promise<Float32Array>, this.invStd.data() as Promise<Float32Array>]);
    return { mean, invStd };
  }

  /** An independent copy (weights and standardization). */
  clone(): Head {
    const head = new Head(this.spec, tf.keep(this.mean.clone()), tf.keep(this.invStd.clone()));
    for (const k of this.kernels) head.kernels.push(tf.tidy(() => tf.variable(k.clone())));
    for (const b of this.biases) head.biases.push(tf.tidy(() => tf.variable(b.clone())));
    return head;
  }

  /** All trainable variables, kernels first. */
  get variables(): tf.Variable[] {
    return [...this.kernels, ...this.biases];
  }

  /**
   * Logits for embeddings [n, inputSize]. `dropout` applies before the output layer when training.
   * `standardized`: x is already (x - mean) * invStd (FeatureRows.gather does it on the host).
   */
  logits(x: tf.Tensor2D, dropout = 0, seed?: number, standardized = false): tf.Tensor2D {
    return tf.tidy(() => {
      let h = standardized ? x : (tf.mul(tf.sub(x, this.mean), this.invStd) as tf.Tensor2D);
      this.kernels.forEach((k, i) => {
        const last = i === this.kernels.length - 1;
        if (last && dropout > 0) h = tf.dropout(h, dropout, undefined, seed) as tf.Tensor2D;
        h = tf.add(tf.matMul(h, k), this.biases[i]!);
        if (!last) h = tf.relu(h);
      });
      return h;
    });
  }

  /** Copies of the current weights (kernels then biases), for best-epoch checkpoints. */
  snapshot(): tf.Tensor[] {
    return this.variables.map((v) => tf.keep(v.clone()));
  }

  restore(weights: tf.Tensor[]): void {
    this.variables.forEach((v, i) => v.assign(weights[i]!));
  }

  /**
   * Weights with standardization folded into the first layer, in Keras order
   * [kernel0, bias0, kernel1, bias1, ...]: (x - mu) * s @ W + b = x @ (s * W) + (b - (mu * s) @ W).
   */
  foldedWeights(): tf.Tensor[] {
    return tf.tidy(() => {
      const out: tf.Tensor[] = [];
      this.kernels.forEach((k, i) => {
        if (i === 0) {
          const w = tf.mul(k, tf.expandDims(this.invStd, 1));
          const shift = tf.squeeze(tf.matMul(tf.expandDims(tf.mul(this.mean, this.invStd), 0), k), [0]);
          out.push(w, tf.sub(this.biases[0]!, shift));
        } else {
          out.push(k.clone(), this.biases[i]!.clone());
        }
      });
      return out;
    });
  }

  /** A tfjs-layers Sequential with softmax output, loadable by plain tfjs. */
  toLayersModel(): LayersModel {
    const model = sequential();
    const n = this.kernels.length;
    this.kernels.forEach((k, i) => {
      const last = i === n - 1;
      model.add(
        layers.dense({
          units: k.shape[1]!,
          activation: last ? 'softmax' : 'relu',
          name: last ? 'edgetune_logits' : `edgetune_hidden_${i}`,
          ...(i === 0 ? { inputShape: [this.spec.inputSize] } : {}),
        }),
      );
    });
    const w = this.foldedWeights();
    model.setWeights(w);
    tf.dispose(w);
    return model;
  }

  dispose(): void {
    tf.dispose([...this.variables, this.mean, this.invStd]);
  }
}

/** Per-feature mean and 1/std over rows of x (std floored to avoid blow-ups on constant features). */
export function featureStats(x: tf.Tensor2D): { mean: tf.Tensor1D; invStd: tf.Tensor1D } {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, 0);
    return { mean: mean as tf.Tensor1D, invStd: tf.div(1, tf.add(tf.sqrt(variance), 1e-3)) as tf.Tensor1D };
  });
}
