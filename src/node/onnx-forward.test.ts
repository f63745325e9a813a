// The backbone on ONNX Runtime gives the tfjs backbone's embeddings and prefix
// activations within 1e-4 (max abs), for both bundled backbones.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEngine } from '../engine/engine.js';
import { checkForwardAgainstTfjs } from '../testing/forward-agreement.js';
import { onnxRuntimeForward } from './onnx-forward.js';

for (const backbone of ['mobilenet_v2_140', 'mobilenet_v2'] as const) {
  describe(`onnxruntime forward on ${backbone}`, () => {
    it('matches tfjs within 1e-4: embeddings, prefix activations, both at once, and does not leak tensors', async () => {
      const engine = await createEngine({ backends: ['wasm', 'cpu'], backbone, forward: onnxRuntimeForward() });
      try {
        assert.equal(engine.embedder.forward.name, 'onnxruntime');
        await checkForwardAgainstTfjs(engine, 224, backbone);
      } finally {
        engine.dispose();
      }
    });
  });
}
