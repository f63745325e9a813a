// The backbone on ONNX Runtime, on the tiny generated backbones (seconds, for the
// mutation runs): tfjs' embeddings and prefix activations within 1e-4 at every cut
// depth, graph and Keras layers alike.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkForwardAgainstTfjs } from '../testing/forward-agreement.js';
import { tinyEngine, TINY_SIZE, type TinyFormat } from '../testing/tiny-backbone.js';
import { onnxRuntimeForward } from './onnx-forward.js';

for (const format of ['graph', 'layers'] as TinyFormat[]) {
  describe(`onnxruntime forward on the tiny ${format} backbone`, () => {
    it('matches tfjs within 1e-4 at cuts of 1, 3 and 4 blocks', async () => {
      const engine = await tinyEngine({ format, forward: onnxRuntimeForward({ threads: 1 }) });
      try {
        assert.equal(engine.embedder.forward.name, 'onnxruntime');
        for (const blocks of [1, 3, 4] as const) await checkForwardAgainstTfjs(engine, TINY_SIZE, `tiny ${format}`, blocks);
      } finally {
        engine.dispose();
      }
    });
  });
}
