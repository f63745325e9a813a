// AdamW (Loshchilov & Hutter): Adam with weight decay decoupled from the
// gradient, as torch.optim.AdamW. tfjs ships Adam only, and its learning rate
// cannot be changed per step, which a StepLR schedule needs.
import * as tf from '@tensorflow/tfjs-core';

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
  ) {
    // Inside tidy: the zeros the variables are made from are freed, the variables kept.
    this.m = tf.tidy(() => vars.map((x) => tf.variable(tf.zerosLike(x), false)));
    this.v = tf.tidy(() => vars.map((x) => tf.variable(tf.zerosLike(x), false)));
  }

  /** One update with `grads` (in the order of `vars`) at learning rate `lr`. */
  apply(grads: tf.Tensor[], lr: number): void {
    this.step++;
    const c1 = 1 - this.beta1 ** this.step;
    const c2 = 1 - this.beta2 ** this.step;
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
