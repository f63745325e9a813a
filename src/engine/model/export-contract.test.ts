// What a deploying app relies on in the exported files, beyond their numbers: the
// ONNX model's interface (a uint8 NHWC image of any size in, probabilities out, by
// those names), the preprocessing each file describes in its metadata, a hidden
// layer's ReLU, no redundant normalization step in the TFLite graph, and backbones
// with plain ReLU activations exported as ReLU.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isEdgetuneError } from '../../errors.js';
import type { RawImage } from '../../types.js';
import { createEngine, type Engine } from '../engine.js';
import { pixelSource } from '../data/examples.js';
import { onnx, onnxAgreement } from '../../testing/onnx-runtime.js';
import { syntheticImage, type SyntheticClass } from '../../testing/synthetic.js';
import { readTflite, runTflite } from '../../testing/tflite-reader.js';
import { servedTiny, tinyBackboneFiles, tinyEngineWith, TINY_BACKBONE_URL, TINY_SIZE, type TinyFormat } from '../../testing/tiny-backbone.js';
import type { GraphNode } from './graph.js';
import { Activation, Builtin, F } from './tflite/schema.js';

const CLASSES: SyntheticClass[] = ['disc', 'stripes', 'checker'];
const TRAIN = { epochs: 3, augment: 0, seed: 2, validationSplit: 0, batchSize: 8 } as const;
const IMAGES: RawImage[] = CLASSES.map((c, i) => syntheticImage(c, 900 + i, TINY_SIZE));
const RESIZED: RawImage[] = CLASSES.map((c, i) => syntheticImage(c, 910 + i, 45, 27));
const { FLOAT, UINT8 } = onnx.TensorProto.DataType;
const dec = new TextDecoder();

type ValueInfo = { name?: string | null; type?: { tensorType?: { elemType?: number | null; shape?: { dim?: { dimParam?: string | null; dimValue?: unknown }[] | null } | null } | null } | null };
const signature = (v: ValueInfo) => ({
  name: v.name,
  type: v.type!.tensorType!.elemType,
  dims: v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue)),
});

/** TFLite tensor names, operator codes and convolutions' fused activations of `bytes`' graph. */
function tfliteGraph(bytes: Uint8Array) {
  const model = readTflite(bytes);
  const graph = model.tables(F.Model.subgraphs)[0]!;
  const codes = model.tables(F.Model.operator_codes).map((c) => c.int(F.OperatorCode.builtin_code));
  const buffers = model.tables(F.Model.buffers);
  const meta = model.tables(F.Model.metadata).find((m) => m.string(F.Metadata.name) === 'edgetune')!;
  const operators = graph.tables(F.SubGraph.operators);
  const fused = operators.flatMap((op) => {
    const code = codes[op.int(F.Operator.opcode_index)];
    const slot = code === Builtin.CONV_2D ? F.Conv2DOptions.fused_activation_function : code === Builtin.DEPTHWISE_CONV_2D ? F.DepthwiseConv2DOptions.fused_activation_function : -1;
    return slot < 0 ? [] : [op.table(F.Operator.builtin_options)?.int(slot, 1) ?? Activation.NONE];
  });
  return {
    fused,
    tensors: graph.tables(F.SubGraph.tensors).map((t) => t.string(F.Tensor.name)),
    ops: operators.map((op) => codes[op.int(F.Operator.opcode_index)]!),
    meta: JSON.parse(new TextDecoder().decode(buffers[meta.int(F.Metadata.buffer)]!.bytes(F.Buffer.data).data)),
  };
}

for (const format of ['graph', 'layers'] as TinyFormat[]) {
  describe(`Exported files of the tiny ${format} backbone, with a hidden layer`, () => {
    let engine: Engine;
    before(async () => {
      engine = await tinyEngineWith(CLASSES, 4, { format });
      await engine.fineTune({ ...TRAIN, hiddenUnits: 16 });
    });
    after(() => engine.dispose());

    it('ONNX: image (uint8, n x height x width x 3) in, probabilities (n x classes) out, its preprocessing in the metadata', async () => {
      const bytes = (await engine.export({ format: 'onnx' }))['model.onnx']!;
      const model = onnx.ModelProto.decode(bytes);
      assert.deepEqual([model.producerName, model.graph!.name], ['edgetune', 'edgetune']);
      assert.deepEqual(model.opsetImport.map((o) => o.domain), ['']);
      assert.deepEqual(model.graph!.input!.map(signature), [{ name: 'image', type: UINT8, dims: ['n', 'height', 'width', 3] }]);
      assert.deepEqual(model.graph!.output!.map(signature), [{ name: 'probabilities', type: FLOAT, dims: ['n', 3] }]);
      const meta = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
      assert.deepEqual(JSON.parse(meta.preprocessing!), {
        input: 'image',
        layout: 'NHWC',
        shape: [null, null, null, 3],
        dtype: 'uint8',
        channels: 'RGB, transparent areas flattened onto white before',
        resize: `inside the model: bilinear with half-pixel centres to ${TINY_SIZE}x${TINY_SIZE}, aspect ratio not kept, no crop`,
        decode: 'edgetune decodes with EXIF orientation applied and the longer side downscaled to at most 448 px',
        normalization: 'inside the model',
      });
      const nodes = model.graph!.node!;
      assert.deepEqual(nodes.filter((n) => n.name!.startsWith('edgetune/dense')).map((n) => [n.opType, n.name]), [
        ['Gemm', 'edgetune/dense0'],
        ['Relu', 'edgetune/dense0/relu'],
        ['Gemm', 'edgetune/dense1'],
      ]);
      const softmax = nodes.find((n) => n.opType === 'Softmax')!;
      assert.deepEqual(softmax.output, ['probabilities']);
      assert.deepEqual(softmax.attribute!.map((a) => [a.name, Number(a.i)]), [['axis', 1]]);
      const d = Math.max(await onnxAgreement(engine, bytes, IMAGES), await onnxAgreement(engine, bytes, RESIZED));
      assert.ok(d <= 1e-3, `max abs difference ${d}`);
    });

    it("TFLite: the preprocessing in the metadata, and a normalization step only where the backbone's is not the identity", async () => {
      const { tensors, ops, meta } = tfliteGraph((await engine.export({ format: 'tflite' }))['model.tflite']!);
      assert.deepEqual(meta.preprocessing, {
        input: 'image',
        layout: 'NHWC',
        shape: [1, TINY_SIZE, TINY_SIZE, 3],
        dtype: 'float32',
        range: 'RGB 0..255, transparent areas flattened onto white',
        resize: `outside the model: bilinear with half-pixel centres to ${TINY_SIZE}x${TINY_SIZE}, aspect ratio not kept, no crop, no antialiasing`,
        normalization: 'inside the model',
      });
      assert.equal(meta.unfreezeBlocks, undefined);
      assert.equal(meta.quantization, undefined);
      // The graph backbone normalizes inside its graph (mean 0, std 1 in its manifest): only the 0..255 -> 0..1 scale.
      const norm = tensors.filter((t) => t.startsWith('edgetune/norm/'));
      assert.deepEqual(norm, format === 'graph' ? ['edgetune/norm/mul', 'edgetune/norm/scale'] : ['edgetune/norm/mul', 'edgetune/norm/scale', 'edgetune/norm/sub', 'edgetune/norm/offset']);
      assert.deepEqual(tensors.filter((t) => t.startsWith('edgetune/dense')).sort(), ['edgetune/dense0', 'edgetune/dense0/bias', 'edgetune/dense0/kernel', 'edgetune/dense1', 'edgetune/dense1/bias', 'edgetune/dense1/kernel']);
      // The graph's SAME padding of its strided convolutions is TFLite's SAME: no explicit PAD; Keras' three ZeroPadding2D layers stay PADs.
      assert.equal(ops.filter((c) => c === Builtin.PAD).length, format === 'graph' ? 0 : 3);
      assert.equal(ops.filter((c) => c === Builtin.FULLY_CONNECTED).length, 2);
    });

    it('beside each file: labels.json, and a model card with the training counts, an evaluation given to export, the int8 caveat only for int8', async () => {
      const evaluation = { split: 'test', dataset: 'shapes', accuracy: 0.5, n: 6, perClass: CLASSES.map((label) => ({ label, precision: 0.5, recall: 0.5, f1: 0.5, support: 2 })) };
      const onnxFiles = await engine.export({ format: 'onnx', evaluation });
      assert.equal(dec.decode(onnxFiles['labels.json']), `${JSON.stringify(CLASSES)}\n`);
      const card = dec.decode(onnxFiles['README.md']);
      assert.match(card, /On the test split of shapes \(6 images, none seen in training\): accuracy \*\*50\.0%\*\*/);
      assert.match(card, /\| disc \| 4 \| 0 \| 2 \|/);
      assert.doesNotMatch(card, /The model files are int8/);
      const edgetune = await engine.export({ evaluation });
      assert.deepEqual(JSON.parse(dec.decode(edgetune['edgetune.json'])).evaluation, evaluation);
      assert.match(dec.decode((await engine.export({ format: 'tflite', int8: true, calibrationImages: 6 }))['README.md']!), /The model files are int8, calibrated on the training images/);
    });

    it('TFLite int8 of a partial tail: the tail depth and the quantization in the metadata', async () => {
      await engine.fineTune({ ...TRAIN, strategy: 'partial', partial: { unfreezeBlocks: 2, epochs: 1 } });
      const { meta } = tfliteGraph((await engine.export({ format: 'tflite', int8: true, calibrationImages: 6 }))['model.tflite']!);
      assert.equal(meta.unfreezeBlocks, 2);
      assert.match(meta.quantization, /^int8: activations per tensor calibrated on the training images, weights per output channel/);
    });
  });
}

describe('Exports of a graph backbone with plain ReLU activations', () => {
  let engine: Engine;
  before(async () => {
    const files = await tinyBackboneFiles('graph');
    const model = JSON.parse(new TextDecoder().decode(files.get('model.json')));
    for (const node of model.modelTopology.node as GraphNode[]) {
      const ops = node.attr?.fused_ops?.list?.s;
      if (ops?.[1] === btoa('Relu6')) ops[1] = btoa('Relu');
    }
    const fetcher = await servedTiny('graph', { files: { 'model.json': new TextEncoder().encode(JSON.stringify(model)) }, relist: true });
    engine = await createEngine({ backends: ['wasm', 'cpu'], backbone: TINY_BACKBONE_URL, fetcher });
    for (const label of CLASSES) await engine.addExamples(label, await Promise.all([0, 1, 2].map((i) => pixelSource(syntheticImage(label, 60 + i, 40), `${label}${i}`))));
    await engine.fineTune({ ...TRAIN, strategy: 'partial', partial: { unfreezeBlocks: 2, epochs: 1 } });
  });
  after(() => engine.dispose());

  it('ONNX (float and int8) and TFLite answer as the engine does', async () => {
    const float = (await engine.export({ format: 'onnx' }))['model.onnx']!;
    const relus = onnx.ModelProto.decode(float).graph!.node!.filter((n) => n.opType === 'Relu').length;
    assert.ok(relus >= 10, `${relus} Relu nodes`);
    assert.ok((await onnxAgreement(engine, float, IMAGES)) <= 1e-4);
    const int8 = (await engine.export({ format: 'onnx', int8: true, calibrationImages: 6 }))['model.onnx']!;
    assert.ok((await onnxAgreement(engine, int8, IMAGES)) <= 0.1);
    const tflite = (await engine.export({ format: 'tflite' }))['model.tflite']!;
    const { fused } = tfliteGraph(tflite);
    assert.ok(fused.includes(Activation.RELU) && !fused.includes(Activation.RELU6), `fused activations ${fused}`);
    const want = await engine.predictBatch(IMAGES, { topK: 3 });
    IMAGES.forEach((im, i) => {
      const probs = runTflite(tflite, Float32Array.from(im.data));
      for (const p of want[i]!) assert.ok(Math.abs(probs[CLASSES.indexOf(p.label as SyntheticClass)]! - p.probability) <= 1e-4, `image ${i} ${p.label}`);
    });
  });

  it('refuses an int8 export once its training examples are gone: nothing to calibrate on', async () => {
    engine.clearExamples();
    await assert.rejects(engine.export({ format: 'onnx', int8: true }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT') && /add examples first/.test(e.message));
  });
});
