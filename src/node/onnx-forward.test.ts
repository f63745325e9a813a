// The backbone on ONNX Runtime gives the tfjs backbone's embeddings and prefix
// activations within 1e-4 (max abs), for both bundled backbones.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { createEngine } from '../engine/engine.js';
import { tfjsForward } from '../engine/model/forward.js';
import { Tail } from '../engine/model/tail.js';
import { onnxRuntimeForward } from './onnx-forward.js';

const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

for (const backbone of ['mobilenet_v2_140', 'mobilenet_v2'] as const) {
  describe(`onnxruntime forward on ${backbone}`, () => {
    it('matches tfjs within 1e-4: embeddings, prefix activations, both at once, and does not leak tensors', async () => {
      const engine = await createEngine({ backends: ['wasm', 'cpu'], backbone, forward: onnxRuntimeForward() });
      const tail = await Tail.fromBackbone(engine.backbone, 2);
      try {
        assert.equal(engine.embedder.forward.name, 'onnxruntime');
        const ref = tfjsForward(engine.backbone);
        const { mean, std } = engine.backbone.manifest.normalization;
        const x = tf.tidy(() => tf.div(tf.sub(tf.randomUniform([3, 224, 224, 3], 0, 1, 'float32', 11), mean), std) as tf.Tensor4D);
        const before = tf.memory().numTensors;
        const cut = tail.plan.cutNode;
        const want = [{ embedding: true }, { embedding: false, prefix: cut }, { embedding: true, prefix: cut }];
        for (const w of want) {
          const [a, b] = [await engine.embedder.forward.run(x, w), await ref.run(x, w)];
          if (w.embedding) {
            assert.equal(a.embedding!.length, 3 * engine.backbone.manifest.embeddingSize);
            const d = maxAbs(a.embedding!, b.embedding!);
            console.log(`# ${backbone} embedding: max abs difference ${d.toExponential(2)}`);
            assert.ok(d <= 1e-4, `embedding differs by ${d}`);
          }
          if (w.prefix) {
            assert.equal(a.prefix!.length, b.prefix!.length);
            const d = maxAbs(a.prefix!, b.prefix!);
            console.log(`# ${backbone} prefix at the 2-block cut: max abs difference ${d.toExponential(2)}`);
            assert.ok(d <= 1e-4, `prefix differs by ${d}`);
          }
        }
        assert.equal(tf.memory().numTensors, before);
        x.dispose();
      } finally {
        tail.dispose();
        engine.dispose();
      }
    });
  });
}
