// The ONNX export on the tiny generated backbones (graph and layers: seconds,
// where onnx-export.test.ts takes minutes on the bundled ones), run by
// onnxruntime-node: the same probabilities as the engine for a head, a partial
// tail and the full network, at the model's size and resized inside the graph;
// the trained weights in the file; int8 QDQ close to float.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FineTuneOptions, RawImage } from '../../../types.js';
import type { Engine } from '../../engine.js';
import { onnx, onnxAgreement, runOnnx } from '../../../testing/onnx-runtime.js';
import { syntheticImage, type SyntheticClass } from '../../../testing/synthetic.js';
import { tinyEngineWith, TINY_SIZE, type TinyFormat } from '../../../testing/tiny-backbone.js';
import type { Tail } from '../tail.js';

const CLASSES: SyntheticClass[] = ['disc', 'stripes', 'checker'];
const TRAIN = { epochs: 4, augment: 0, seed: 2, validationSplit: 0, batchSize: 8 } as const;
const STRATEGIES: [string, FineTuneOptions][] = [
  ['head', TRAIN],
  ['partial', { ...TRAIN, strategy: 'partial', partial: { unfreezeBlocks: 2, epochs: 2, learningRate: 3e-3 } }],
  ['full', { ...TRAIN, strategy: 'full', full: { epochs: 2, learningRate: 3e-3 } }],
];
const SAME: RawImage[] = CLASSES.map((c, i) => syntheticImage(c, 700 + i, TINY_SIZE));
const RESIZED: RawImage[] = [[50, 30], [17, 41], [64, 64], [33, 32]].map(([w, h], i) => syntheticImage(CLASSES[i % 3]!, 800 + i, w, h));
const initializers = (model: Uint8Array) => new Map(onnx.ModelProto.decode(model).graph!.initializer!.map((t) => [t.name!, t]));

for (const format of ['graph', 'layers'] as TinyFormat[]) {
  describe(`ONNX export of the tiny ${format} backbone, run by onnxruntime-node`, () => {
    let engine: Engine;
    before(async () => {
      engine = await tinyEngineWith(CLASSES, 5, { format });
    });
    after(() => engine.dispose());

    for (const [strategy, opts] of STRATEGIES) {
      it(`${strategy}: the engine's probabilities within 1e-4, its trained weights in the file`, async () => {
        await engine.fineTune(opts);
        const files = await engine.export({ format: 'onnx' });
        assert.deepEqual(Object.keys(files).sort(), ['README.md', 'labels.json', 'model.onnx']);
        const model = files['model.onnx']!;
        const same = await onnxAgreement(engine, model, SAME);
        const resized = await onnxAgreement(engine, model, RESIZED);
        assert.ok(same <= 1e-4, `max abs difference ${same} at ${TINY_SIZE}x${TINY_SIZE}`);
        assert.ok(resized <= 1e-3, `max abs difference ${resized} resized`);
        const meta = Object.fromEntries(onnx.ModelProto.decode(model).metadataProps.map((p) => [p.key, p.value]));
        assert.deepEqual(JSON.parse(meta.labels!), CLASSES);
        assert.equal(meta.backbone, `tiny_mobilenet_${format}`);
        assert.equal(meta.backboneManifestSha256, engine.backbone.manifestHash);
        assert.equal(meta.unfreezeBlocks, { head: undefined, partial: '2', full: 'all' }[strategy]);
        const tail = (engine as unknown as { model: { tail: Tail | null } }).model.tail;
        assert.equal(tail === null, strategy === 'head');
        if (!tail || format === 'layers') return;
        // Graph backbones keep the graph's node names: each trained bias is in the file as the engine holds it (kernels are transposed to ONNX's layout).
        const stored = initializers(model);
        for (const { name, tensor } of tail.weights().filter((w) => w.tensor.rank === 1)) {
          const t = stored.get(name);
          assert.ok(t, `${name} is in the file`);
          assert.deepEqual(Array.from(new Float32Array(Uint8Array.from(t.rawData!).buffer)), Array.from(tensor.dataSync()), name);
        }
      });
    }

    it('int8: QDQ around every convolution, answers close to the float model', async () => {
      await engine.fineTune(STRATEGIES[1]![1]);
      const float = (await engine.export({ format: 'onnx' }))['model.onnx']!;
      const int8 = (await engine.export({ format: 'onnx', int8: true, calibrationImages: 9 }))['model.onnx']!;
      const nodes = onnx.ModelProto.decode(int8).graph!.node!;
      const count = (op: string) => nodes.filter((n) => n.opType === op).length;
      assert.equal(count('Conv'), onnx.ModelProto.decode(float).graph!.node!.filter((n) => n.opType === 'Conv').length);
      assert.ok(count('QuantizeLinear') >= count('Conv') && count('DequantizeLinear') >= count('Conv'), `${count('QuantizeLinear')} Q, ${count('DequantizeLinear')} DQ for ${count('Conv')} Conv`);
      const meta = Object.fromEntries(onnx.ModelProto.decode(int8).metadataProps.map((p) => [p.key, p.value]));
      assert.match(meta.quantization!, /^int8 QDQ/);
      const images = [...SAME, ...RESIZED];
      const [a, b] = [await runOnnx(float, images), await runOnnx(int8, images)];
      let sum = 0;
      a.forEach((p, i) => p.forEach((v, j) => (sum += Math.abs(v - b[i]![j]!))));
      const mean = sum / (a.length * CLASSES.length);
      assert.ok(mean <= 0.02, `mean abs difference ${mean}`);
      assert.ok(mean > 0, 'int8 rounding changes something');
    });
  });
}
