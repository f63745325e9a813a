// The merged export as a developer loads it: plain tf.loadGraphModel on the files,
// predict() on 0..255 pixels, the same probabilities as the engine. The backbone here
// is the tiny graph stored the way converted hub models are (uint8, uint16 and float16
// quantized weights next to float32 ones, a weight before the Placeholder, control inputs
// on it), normalized with per-channel mean and std, average-pooled by the export, with
// a hidden layer and a fine-tuned tail.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import type { ModelMetadata, RawImage } from '../../types.js';
import { pixelSource } from '../data/examples.js';
import { createEngine, type Engine } from '../engine.js';
import { syntheticImage, type SyntheticClass } from '../../testing/synthetic.js';
import { servedTiny, tinyBackboneFiles, TINY_BACKBONE_URL, TINY_SIZE } from '../../testing/tiny-backbone.js';
import type { GraphNode } from './graph.js';

const CLASSES: SyntheticClass[] = ['disc', 'stripes', 'checker'];
const dec = new TextDecoder();
const enc = new TextEncoder();

/** IEEE half-precision bits of `v` (round to nearest; the tiny weights are normal numbers). */
function halfBits(v: number): number {
  const f = new Float32Array([v]);
  const b = new Uint32Array(f.buffer)[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = ((b >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  return sign | (exp << 10) | (((b & 0x7fffff) + 0x1000) >>> 13);
}

type Spec = { name: string; shape: number[]; dtype: string; quantization?: { dtype: string; min?: number; scale?: number } };

/** The tiny graph's weights re-stored: every third uint8, every third uint16, every third float16, the rest float32 where the order allows. */
function quantizedWeights(specs: Spec[], bytes: Uint8Array): { specs: Spec[]; bytes: Uint8Array } {
  const values = new Float32Array(bytes.slice().buffer);
  const parts: Uint8Array[] = [];
  let off = 0;
  const out = specs.map((spec, i) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const v = values.subarray(off, off + n);
    off += n;
    const kind = ['uint8', 'uint16', 'float16', 'float32'][i % 4]!;
    if (kind === 'float32') {
      parts.push(new Uint8Array(Float32Array.from(v).buffer));
      return spec;
    }
    if (kind === 'float16') {
      parts.push(new Uint8Array(Uint16Array.from(v, halfBits).buffer));
      return { ...spec, quantization: { dtype: 'float16' } };
    }
    const levels = kind === 'uint8' ? 255 : 65535;
    const min = Math.min(...v);
    const scale = (Math.max(...v) - min) / levels || 1;
    const q = Array.from(v, (x) => Math.round((x - min) / scale));
    parts.push(new Uint8Array((kind === 'uint8' ? Uint8Array.from(q) : Uint16Array.from(q)).buffer));
    return { ...spec, quantization: { dtype: kind, min, scale } };
  });
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
  return { specs: out, bytes: all };
}

async function hubStyleEngine(): Promise<Engine> {
  const files = await tinyBackboneFiles('graph');
  const json = JSON.parse(dec.decode(files.get('model.json')));
  const nodes = json.modelTopology.node as GraphNode[];
  // A weight before the Placeholder: the input is found by its op, not its place.
  nodes.unshift(...nodes.splice(nodes.findIndex((n) => n.name === 'Conv_1/Relu6_bn_offset'), 1));
  // As in the bundled hub graph: the input scaling's constants wait on the input.
  for (const n of nodes.filter((n) => n.name.startsWith('hub_input/') && n.op === 'Const')) n.input = ['^input'];
  const w = quantizedWeights(json.weightsManifest[0].weights, files.get('weights.bin')!);
  json.weightsManifest[0].weights = w.specs;
  const fetcher = await servedTiny('graph', {
    files: { 'model.json': enc.encode(JSON.stringify(json)), 'weights.bin': w.bytes },
    relist: true,
    manifest: (m) => {
      m.featureNode = 'Conv_1/Relu6';
      m.pooling = 'avg';
      m.normalization = { mean: [0.2, 0.4, 0.6], std: [0.5, 0.25, 0.8] };
    },
  });
  return createEngine({ backends: ['wasm', 'cpu'], backbone: TINY_BACKBONE_URL, fetcher });
}

describe('The merged export of a hub-style graph backbone', () => {
  let engine: Engine;
  before(async () => {
    engine = await hubStyleEngine();
    for (const label of CLASSES) await engine.addExamples(label, await Promise.all([0, 1, 2, 3].map((i) => pixelSource(syntheticImage(label, 70 + i, 40), `${label}${i}`))));
    await engine.fineTune({ epochs: 3, augment: 0, seed: 4, validationSplit: 0, batchSize: 8, hiddenUnits: 12, strategy: 'partial', partial: { unfreezeBlocks: 1, epochs: 1 } });
  });
  after(() => engine.dispose());

  it('loads with plain tf.loadGraphModel and predicts what the engine predicts, on 0..255 pixels', async () => {
    const before = tf.memory().numTensors;
    const files = await engine.export({ merged: true });
    assert.equal(tf.memory().numTensors, before, 'the folded head weights are disposed');
    const m = (JSON.parse(dec.decode(files['edgetune.json'])) as ModelMetadata).merged!;
    const json = JSON.parse(dec.decode(files[m.modelUrl]));
    const weights = files['merged/weights.bin']!;
    const graph = await loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weights.slice().buffer, signature: json.signature }));
    try {
      assert.deepEqual([graph.inputs.map((i) => [i.name, i.shape]), graph.outputs.map((o) => o.name)], [[['pixels', [-1, TINY_SIZE, TINY_SIZE, 3]]], ['edgetune/probabilities']]);
      const pixels: RawImage[] = CLASSES.map((c, i) => syntheticImage(c, 80 + i, TINY_SIZE));
      const probs = tf.tidy(() => (graph.predict(tf.tensor4d(Float32Array.from(pixels.flatMap((p) => [...p.data])), [3, TINY_SIZE, TINY_SIZE, 3])) as tf.Tensor).arraySync() as number[][]);
      const want = await engine.predictBatch(pixels, { topK: 3 });
      want.forEach((row, i) => row.forEach((p) => assert.ok(Math.abs(probs[i]![CLASSES.indexOf(p.label as SyntheticClass)]! - p.probability) < 1e-4, `${i} ${p.label}: ${probs[i]} vs ${p.probability}`)));
    } finally {
      graph.dispose();
    }
  });

  it('keeps the quantized backbone weights as stored, the tail replaced by float32, and describes itself', async () => {
    const files = await engine.export({ merged: true });
    const json = JSON.parse(dec.decode(files['merged/model.json']));
    const specs = json.weightsManifest[0].weights as Spec[];
    const names = specs.map((s) => s.name);
    assert.equal(new Set(names).size, names.length, 'each weight once');
    const stored = (s: Spec) => s.shape.reduce((a, b) => a * b, 1) * ({ uint8: 1, uint16: 2, float16: 2 }[s.quantization?.dtype ?? ''] ?? 4);
    assert.equal(files['merged/weights.bin']!.length, specs.reduce((a, s) => a + stored(s), 0));
    const quantized = specs.filter((s) => s.quantization).map((s) => s.quantization!.dtype);
    for (const dtype of ['uint8', 'uint16', 'float16']) assert.ok(quantized.includes(dtype), dtype);
    // The last block's weights are the fine-tuned ones, in float32.
    for (const s of specs.filter((s) => s.name.startsWith('expanded_conv_4/'))) assert.deepEqual([s.name, s.dtype, s.quantization], [s.name, 'float32', undefined]);
    assert.equal(json.format, 'graph-model');
    assert.match(json.generatedBy, /^edgetune \d+\.\d+\.\d+/);
    assert.match(json.convertedBy, /^edgetune \d+\.\d+\.\d+ \(backbone tiny_mobilenet_graph \+ trained head\)$/);
    assert.deepEqual(json.signature.outputs, { 'edgetune/probabilities:0': { name: 'edgetune/probabilities:0', dtype: 'DT_FLOAT' } });
    const nodes = json.modelTopology.node as GraphNode[];
    assert.deepEqual(nodes.filter((n) => n.op === 'Placeholder').map((n) => n.name), ['pixels']);
    assert.ok(!nodes.some((n) => n.input?.some((i) => i === 'input' || i === '^input')), 'nothing reads the old input');
    const added = nodes.filter((n) => n.name.startsWith('edgetune/'));
    const consts = added.filter((n) => n.op === 'Const').map((n) => [n.name, (n.attr as { dtype: { type: string } }).dtype.type]);
    assert.deepEqual(consts, [
      ['edgetune/norm/scale', 'DT_FLOAT'],
      ['edgetune/norm/offset', 'DT_FLOAT'],
      ['edgetune/pool/axes', 'DT_INT32'],
      ['edgetune/dense0/kernel', 'DT_FLOAT'],
      ['edgetune/dense0/bias', 'DT_FLOAT'],
      ['edgetune/dense1/kernel', 'DT_FLOAT'],
      ['edgetune/dense1/bias', 'DT_FLOAT'],
    ]);
    assert.deepEqual(added.filter((n) => n.op !== 'Const').map((n) => [n.op, n.input]), [
      ['Mul', ['pixels', 'edgetune/norm/scale']],
      ['Sub', ['edgetune/norm/mul', 'edgetune/norm/offset']],
      ['Mean', ['Conv_1/Relu6', 'edgetune/pool/axes']],
      ['MatMul', ['edgetune/pool', 'edgetune/dense0/kernel']],
      ['BiasAdd', ['edgetune/dense0/matmul', 'edgetune/dense0/bias']],
      ['Relu', ['edgetune/dense0/bias_add']],
      ['MatMul', ['edgetune/dense0/relu', 'edgetune/dense1/kernel']],
      ['BiasAdd', ['edgetune/dense1/matmul', 'edgetune/dense1/bias']],
      ['Softmax', ['edgetune/dense1/bias_add']],
    ]);
  });
});
