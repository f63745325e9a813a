// The TFLite export in Node: docs/tflite.md's resize, run as written, against
// edgetune's own preprocessing; the file read back field by field (identifier,
// signature, shapes, aligned buffers, the trained head's weights, metadata);
// usage errors. LiteRT.js itself runs the files in e2e/tflite-web.e2e.test.mjs
// (it does not load in Node).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as flatbuffers from 'flatbuffers';
import onnxProto from 'onnx-proto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createEngine, type Engine } from '../../engine.js';
import { isEdgetuneError } from '../../../errors.js';
import { syntheticImage, syntheticSet, SYNTHETIC_CLASSES } from '../../../testing/synthetic.js';
import { batchToInput, FULL_VIEW } from '../../data/preprocess.js';
import type { BackboneManifest } from '../manifest.js';
import { Builtin, F } from './schema.js';
import { Table } from '../../../testing/tflite-reader.js';

const { onnx } = onnxProto as unknown as typeof import('onnx-proto');
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** The ```js block under docs/tflite.md's "## The resize", as a function. */
function docsResize(): (rgb: Uint8Array, w: number, h: number, outW?: number, outH?: number) => Float32Array {
  const page = readFileSync(`${ROOT}docs/tflite.md`, 'utf8');
  const m = /```js\n([\s\S]*?)```/.exec(page.slice(page.indexOf('## The resize')));
  assert.ok(m, 'docs/tflite.md has a js block under "## The resize"');
  return new Function(`${m[1]!.replace('export function', 'function')}\nreturn toModelInput;`)();
}

describe("docs/tflite.md's resize against edgetune's preprocessing", () => {
  const manifest = JSON.parse(readFileSync(`${ROOT}models/mobilenet_v2/manifest.json`, 'utf8')) as BackboneManifest;
  before(() => tf.setBackend('cpu'));

  it('gives the pixels edgetune feeds its backbone, at every size and aspect ratio, within 1e-3 of 255', () => {
    const toModelInput = docsResize();
    const { mean, std } = manifest.normalization;
    const sizes: [number, number][] = [[300, 180], [97, 203], [224, 224], [50, 40], [448, 252], [333, 448], [1, 7]];
    for (const [i, [w, h]] of sizes.entries()) {
      const img = syntheticImage(SYNTHETIC_CLASSES[i % 3]!, 900 + i, w, h);
      const ours = toModelInput(Uint8Array.from(img.data), w, h);
      // edgetune's normalized input, mapped back to 0..255.
      const theirs = tf.tidy(() => batchToInput([{ img, boxes: [FULL_VIEW] }], manifest).dataSync() as Float32Array);
      assert.equal(ours.length, theirs.length);
      let max = 0;
      for (let j = 0; j < ours.length; j++) {
        const c = j % 3;
        max = Math.max(max, Math.abs(ours[j]! - (theirs[j]! + mean[c]! / std[c]!) * 255 * std[c]!));
      }
      assert.ok(max <= 1e-3, `${w}x${h}: max abs difference ${max}`);
    }
  });
});

describe('TFLite export, read back', () => {
  let engine: Engine;
  before(async () => {
    engine = await createEngine({ backends: ['wasm', 'cpu'], backbone: 'mobilenet_v2' });
    for (const s of syntheticSet(4, 3, 3)) await engine.addExamples(s.label, [s.image]);
    await engine.fineTune({ epochs: 3, seed: 1, validationSplit: 0.34, augment: 0 });
  });
  after(() => engine.dispose());

  it('writes model.tflite and labels.json: one signature image -> probabilities, aligned buffers, the head, the metadata', async () => {
    const files = await engine.export({ format: 'tflite' });
    assert.deepEqual(Object.keys(files).sort(), ['README.md', 'labels.json', 'model.tflite']);
    const bytes = files['model.tflite']!;
    const bb = new flatbuffers.ByteBuffer(bytes);
    assert.equal(new TextDecoder().decode(bytes.subarray(4, 8)), 'TFL3');
    const model = new Table(bb, bb.readInt32(0));
    assert.equal(model.int(F.Model.version), 3);
    const [graph, ...others] = model.tables(F.Model.subgraphs);
    assert.ok(graph);
    assert.equal(others.length, 0);
    const tensors = graph.tables(F.SubGraph.tensors);
    const named = (i: number) => ({ name: tensors[i]!.string(F.Tensor.name), shape: tensors[i]!.ints(F.Tensor.shape), type: tensors[i]!.int(F.Tensor.type, 1) });
    assert.deepEqual(graph.ints(F.SubGraph.inputs).map(named), [{ name: 'image', shape: [1, 224, 224, 3], type: 0 }]);
    assert.deepEqual(graph.ints(F.SubGraph.outputs).map(named), [{ name: 'probabilities', shape: [1, engine.labels.length], type: 0 }]);
    const [signature] = model.tables(F.Model.signature_defs);
    assert.equal(signature?.string(F.SignatureDef.signature_key), 'serving_default');
    assert.deepEqual(signature?.tables(F.SignatureDef.inputs).map((t) => t.string(F.TensorMap.name)), ['image']);

    const buffers = model.tables(F.Model.buffers);
    assert.equal(buffers[0]!.bytes(F.Buffer.data).data.length, 0, 'buffer 0 is the empty sentinel');
    for (const [i, b] of buffers.entries()) {
      const { at, data } = b.bytes(F.Buffer.data);
      if (data.length) assert.equal(at % 16, 0, `buffer ${i} starts 16-byte aligned`);
    }
    // Every operator reads tensors that exist and uses a code the file lists.
    const codes = model.tables(F.Model.operator_codes).map((c) => c.int(F.OperatorCode.builtin_code));
    const ops = graph.tables(F.SubGraph.operators);
    for (const op of ops) for (const t of [...op.ints(F.Operator.inputs), ...op.ints(F.Operator.outputs)]) assert.ok(t >= 0 && t < tensors.length);
    assert.equal(codes[ops.at(-1)!.int(F.Operator.opcode_index)], Builtin.SOFTMAX);

    // The dense layer carries the trained head's weights, transposed to [out, in]: the ONNX export's Gemm holds them as [in, out].
    const fc = ops.find((op) => codes[op.int(F.Operator.opcode_index)] === Builtin.FULLY_CONNECTED)!;
    const kernel = tensors[fc.ints(F.Operator.inputs)[1]!]!;
    const [out, inDim] = kernel.ints(F.Tensor.shape) as [number, number];
    assert.deepEqual([out, inDim], [engine.labels.length, 1280]);
    const values = new Float32Array(buffers[kernel.int(F.Tensor.buffer)]!.bytes(F.Buffer.data).data.slice().buffer);
    const gemm = onnx.ModelProto.decode((await engine.export({ format: 'onnx' }))['model.onnx']!).graph!.initializer!.find((t) => t.name === 'edgetune/dense0/kernel')!;
    const reference = new Float32Array(Uint8Array.from(gemm.rawData!).buffer);
    assert.equal(values.length, reference.length);
    for (let o = 0; o < out; o++) for (let i = 0; i < inDim; i++) assert.equal(values[o * inDim + i], reference[i * out + o]);

    const meta = model.tables(F.Model.metadata).find((m) => m.string(F.Metadata.name) === 'edgetune');
    assert.ok(meta, 'an edgetune metadata entry');
    const json = JSON.parse(new TextDecoder().decode(buffers[meta.int(F.Metadata.buffer)]!.bytes(F.Buffer.data).data));
    assert.deepEqual(json.labels, engine.labels);
    assert.equal(json.backbone, 'mobilenet_v2');
    assert.deepEqual(json.preprocessing.shape, [1, 224, 224, 3]);
  });

  it('refuses an unknown format and merged with a standalone format, naming the valid ones', async () => {
    for (const opts of [{ format: 'tflite2' }, { format: 'tflite', merged: true }] as const) {
      await assert.rejects(
        () => engine.export(opts as never),
        (e: unknown) => isEdgetuneError(e) && e.code === 'INVALID_ARGUMENT' && /'edgetune'|edgetune' format only/.test(e.message),
      );
    }
  });
});
