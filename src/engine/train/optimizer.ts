// AdamW (Loshchilov & Hutter): Adam with weight decay decoupled from the
// gradient, as torch.optim.AdamW. tfjs ships Adam only, and its learning rate
// cannot be changed per step, which a StepLR schedule needs.
import * as tf from '@tensorflow/tfjs-core';
import { ADAMW, registerWasmTrainingKernels, type AdamWAttrs } from '../kernels/wasm-kernels.js';

export class AdamW {
  private step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(
    private readonly vars: tf.Variable[],
    /** Variables that get weight decay (kernels, not biases), as indices into `vars`. */
    private readonly decayed: Set<number>,
    private readonly weightDecay: number,
    /** Per-variable learning-rate multipliers (e.g. 0.1 for unfrozen backbone layers). @default 1 */
    private readonly lrScale: number[] = [],
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
    /** Use the backend's one-pass AdamW kernel where registered (WASM); false: always tfjs ops. */
    private readonly fused = true,
  ) {
    registerWasmTrainingKernels(); // idempotent; a no-op until tfjs-backend-wasm is loaded
    // Inside tidy: the zeros the variables are made from are freed, the variables kept.
    this.m = tf.tidy(() => vars.map((x) => tf.variable(tf.zerosLike(x), false)));
    this.v = tf.tidy(() => vars.map((x) => tf.variable(tf.zerosLike(x), false)));
  }

  /** One update with `grads` (in the order of `vars`) at learning rate `lr`. */
  apply(grads: tf.Tensor[], lr: number): void {
    this.step++;
    const c1 = 1 - this.beta1 ** this.step;
    const c2 = 1 - this.beta2 ** this.step;
    if (this.fused && tf.getKernel(ADAMW, tf.getBackend())) {
      // One pass over w, m, v and g per variable (registerWasmTrainingKernels): the same
      // float32 operations as the ops below, without their 16 passes and temporaries.
      this.vars.forEach((w, i) => {
        const attrs: AdamWAttrs = {
          beta1: this.beta1,
          beta2: this.beta2,
          epsilon: this.epsilon,
          c1,
          c2,
          weightDecay: this.decayed.has(i) ? this.weightDecay : 0,
          lr: lr * (this.lrScale[i] ?? 1),
        };
        const [w2, m2, v2] = tf.engine().runKernel(ADAMW, { w, m: this.m[i]!, v: this.v[i]!, g: grads[i]! }, attrs as never) as tf.Tensor[];
        this.m[i]!.assign(m2!);
        this.v[i]!.assign(v2!);
        w.assign(w2!);
        tf.dispose([w2!, m2!, v2!]);
      });
      return;
    }
    // One tidy per variable: its ~16 temporaries are freed before the next variable's
    // are made. With one tidy for all, an update of the default tail's 3.25 M
    // parameters grew the WASM heap to 319 MB, against 221 MB this way.
    this.vars.forEach((w, i) =>
      tf.tidy(() => {
        const g = grads[i]!;
        const m = tf.add(tf.mul(this.m[i]!, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(this.v[i]!, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        this.m[i]!.assign(m);
        this.v[i]!.assign(v);
        let update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.epsilon));
        if (this.decayed.has(i) && this.weightDecay > 0) update = tf.add(update, tf.mul(w, this.weightDecay));
        w.assign(tf.sub(w, tf.mul(update, lr * (this.lrScale[i] ?? 1))));
      }),
    );
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}
