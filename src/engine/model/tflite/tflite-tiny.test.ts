// The TFLite export on the tiny generated backbones, run by the reference
// interpreter of src/testing/tflite-reader.ts (LiteRT itself runs the bundled
// backbones' files in e2e/tflite-web.e2e.test.mjs): the engine's probabilities
// for a head, a partial tail and the full network, graph and layers backbones;
// int8 with int8 convolutions, close to float.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FineTuneOptions, RawImage } from '../../../types.js';
import type { Engine } from '../../engine.js';
import { syntheticImage, type SyntheticClass } from '../../../testing/synthetic.js';
import { readTflite, runTflite } from '../../../testing/tflite-reader.js';
import { tinyEngineWith, TINY_SIZE, type TinyFormat } from '../../../testing/tiny-backbone.js';
import { Builtin, F, TensorType } from './schema.js';

const CLASSES: SyntheticClass[] = ['disc', 'stripes', 'checker'];
const TRAIN = { epochs: 4, augment: 0, seed: 2, validationSplit: 0, batchSize: 8 } as const;
const STRATEGIES: [string, FineTuneOptions][] = [
  ['head', { ...TRAIN, hiddenUnits: 16 }],
  ['partial', { ...TRAIN, strategy: 'partial', partial: { unfreezeBlocks: 3, epochs: 2, learningRate: 3e-3 } }],
  ['full', { ...TRAIN, strategy: 'full', full: { epochs: 2, learningRate: 3e-3 } }],
];
/** At the model's size: the app's resize (docs/tflite.md) is the identity, the pixels go in as they are. */
const IMAGES: RawImage[] = CLASSES.flatMap((c, i) => [syntheticImage(c, 700 + i, TINY_SIZE), syntheticImage(c, 720 + i, TINY_SIZE)]);
const run = (model: Uint8Array) => IMAGES.map((im) => runTflite(model, Float32Array.from(im.data)));

for (const format of ['graph', 'layers'] as TinyFormat[]) {
  describe(`TFLite export of the tiny ${format} backbone, run by the reference interpreter`, () => {
    let engine: Engine;
    before(async () => {
      engine = await tinyEngineWith(CLASSES, 5, { format });
    });
    after(() => engine.dispose());

    for (const [strategy, opts] of STRATEGIES) {
      it(`${strategy}: the engine's probabilities within 1e-4`, async () => {
        await engine.fineTune(opts);
        const model = (await engine.export({ format: 'tflite' }))['model.tflite']!;
        const want = await engine.predictBatch(IMAGES, { topK: 3 });
        run(model).forEach((probs, i) => {
          assert.equal(probs.length, 3);
          for (const p of want[i]!) assert.ok(Math.abs(probs[CLASSES.indexOf(p.label as SyntheticClass)]! - p.probability) <= 1e-4, `image ${i} ${p.label}: ${probs[CLASSES.indexOf(p.label as SyntheticClass)]} vs ${p.probability}`);
        });
      });
    }

    it('the file: TFL3, one subgraph image -> probabilities, its signature, aligned buffers, the labels and preprocessing in its metadata', async () => {
      await engine.fineTune(STRATEGIES[0]![1]);
      const bytes = (await engine.export({ format: 'tflite' }))['model.tflite']!;
      assert.equal(new TextDecoder().decode(bytes.subarray(4, 8)), 'TFL3');
      const model = readTflite(bytes);
      assert.equal(model.int(F.Model.version), 3);
      assert.match(model.string(F.Model.description), /edgetune/);
      const graphs = model.tables(F.Model.subgraphs);
      assert.equal(graphs.length, 1);
      const tensors = graphs[0]!.tables(F.SubGraph.tensors);
      const named = (i: number) => ({ name: tensors[i]!.string(F.Tensor.name), shape: tensors[i]!.ints(F.Tensor.shape), type: tensors[i]!.int(F.Tensor.type, 1) });
      assert.deepEqual(graphs[0]!.ints(F.SubGraph.inputs).map(named), [{ name: 'image', shape: [1, TINY_SIZE, TINY_SIZE, 3], type: TensorType.FLOAT32 }]);
      assert.deepEqual(graphs[0]!.ints(F.SubGraph.outputs).map(named), [{ name: 'probabilities', shape: [1, 3], type: TensorType.FLOAT32 }]);
      const [sig] = model.tables(F.Model.signature_defs);
      assert.equal(sig!.string(F.SignatureDef.signature_key), 'serving_default');
      assert.deepEqual(sig!.tables(F.SignatureDef.inputs).map((t) => [t.string(F.TensorMap.name), t.int(F.TensorMap.tensor_index)]), [['image', graphs[0]!.ints(F.SubGraph.inputs)[0]]]);
      assert.deepEqual(sig!.tables(F.SignatureDef.outputs).map((t) => [t.string(F.TensorMap.name), t.int(F.TensorMap.tensor_index)]), [['probabilities', graphs[0]!.ints(F.SubGraph.outputs)[0]]]);
      const buffers = model.tables(F.Model.buffers);
      assert.equal(buffers[0]!.bytes(F.Buffer.data).data.length, 0);
      for (const b of buffers) {
        const { at, data } = b.bytes(F.Buffer.data);
        if (data.length) assert.equal(at % 16, 0);
      }
      const meta = model.tables(F.Model.metadata).find((m) => m.string(F.Metadata.name) === 'edgetune')!;
      const json = JSON.parse(new TextDecoder().decode(buffers[meta.int(F.Metadata.buffer)]!.bytes(F.Buffer.data).data));
      assert.deepEqual(json.labels, CLASSES);
      assert.equal(json.backbone, `tiny_mobilenet_${format}`);
      assert.deepEqual(json.preprocessing.shape, [1, TINY_SIZE, TINY_SIZE, 3]);
      // Every operator reads and writes tensors that exist, with a code the file lists.
      const codes = model.tables(F.Model.operator_codes);
      for (const op of graphs[0]!.tables(F.SubGraph.operators)) {
        assert.ok(op.int(F.Operator.opcode_index) < codes.length);
        for (const t of [...op.ints(F.Operator.inputs), ...op.ints(F.Operator.outputs)]) assert.ok(t >= -1 && t < tensors.length);
      }
    });

    it('int8: int8 convolutions between a QUANTIZE and a DEQUANTIZE, answers close to float', async () => {
      await engine.fineTune(STRATEGIES[1]![1]);
      const float = (await engine.export({ format: 'tflite' }))['model.tflite']!;
      const int8 = (await engine.export({ format: 'tflite', int8: true, calibrationImages: 9 }))['model.tflite']!;
      const model = readTflite(int8);
      const graph = model.tables(F.Model.subgraphs)[0]!;
      const tensors = graph.tables(F.SubGraph.tensors);
      const codes = model.tables(F.Model.operator_codes).map((c) => c.int(F.OperatorCode.builtin_code));
      const ops = graph.tables(F.SubGraph.operators).map((op) => ({ code: codes[op.int(F.Operator.opcode_index)]!, inputs: op.ints(F.Operator.inputs) }));
      const convs = ops.filter((op) => op.code === Builtin.CONV_2D || op.code === Builtin.DEPTHWISE_CONV_2D);
      assert.ok(convs.length >= 16);
      for (const op of convs) {
        const [x, w, b] = op.inputs.map((i) => tensors[i]!.int(F.Tensor.type, 1));
        assert.deepEqual([x, w, b], [TensorType.INT8, TensorType.INT8, TensorType.INT32]);
      }
      assert.ok(ops.some((op) => op.code === Builtin.QUANTIZE) && ops.some((op) => op.code === Builtin.DEQUANTIZE));
      assert.ok(int8.length < 0.7 * float.length, `int8 ${int8.length} bytes, float ${float.length}`);
      const [a, b] = [run(float), run(int8)];
      let sum = 0;
      a.forEach((p, i) => p.forEach((v, j) => (sum += Math.abs(v - b[i]![j]!))));
      const mean = sum / (a.length * CLASSES.length);
      assert.ok(mean > 0 && mean <= 0.02, `mean abs difference ${mean}`);
    });
  });
}
