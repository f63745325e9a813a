// The check a BackboneForward must pass: the tfjs backbone's embeddings and prefix
// activations (at a tail's cut) within 1e-4, asked alone or together, without
// leaking tensors. Shared by the ONNX Runtime forward's suites.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { Engine } from '../engine/engine.js';
import { tfjsForward } from '../engine/model/forward.js';
import { Tail } from '../engine/model/tail.js';
import type { TailDepth } from '../engine/model/tail-plan.js';

const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/** Runs `engine`'s forward and tfjs' on three random images of `size` px; `label` names the logged differences. */
export async function checkForwardAgainstTfjs(engine: Engine, size: number, label: string, blocks: TailDepth = 2): Promise<void> {
  const tail = await Tail.fromBackbone(engine.backbone, blocks);
  try {
    const ref = tfjsForward(engine.backbone);
    const { mean, std } = engine.backbone.manifest.normalization;
    const x = tf.tidy(() => tf.div(tf.sub(tf.randomUniform([3, size, size, 3], 0, 1, 'float32', 11), mean), std) as tf.Tensor4D);
    const before = tf.memory().numTensors;
    const cut = tail.plan.cutNode;
    const want = [{ embedding: true }, { embedding: false, prefix: cut }, { embedding: true, prefix: cut }];
    for (const w of want) {
      const [a, b] = [await engine.embedder.forward.run(x, w), await ref.run(x, w)];
      assert.equal(a.embedding === undefined, !w.embedding, 'an embedding exactly when asked');
      assert.equal(a.prefix === undefined, !w.prefix, 'a prefix exactly when asked');
      if (w.embedding) {
        assert.equal(a.embedding!.length, 3 * engine.backbone.manifest.embeddingSize);
        const d = maxAbs(a.embedding!, b.embedding!);
        console.log(`# ${label} embedding: max abs difference ${d.toExponential(2)}`);
        assert.ok(d <= 1e-4, `embedding differs by ${d}`);
      }
      if (w.prefix) {
        assert.equal(a.prefix!.length, 3 * tail.prefixShape.reduce((p, d) => p * d, 1));
        assert.equal(a.prefix!.length, b.prefix!.length);
        const d = maxAbs(a.prefix!, b.prefix!);
        console.log(`# ${label} prefix at the ${blocks}-block cut: max abs difference ${d.toExponential(2)}`);
        assert.ok(d <= 1e-4, `prefix differs by ${d}`);
      }
    }
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  } finally {
    tail.dispose();
  }
}
