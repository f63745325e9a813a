// A MobileNetV2 in miniature, generated in code: a 32x32 tfjs graph model with
// the bundled graph backbone's structure (in-graph normalization, a strided stem,
// a block without expansion, strided and residual bottleneck blocks, a final
// expanding 1x1 convolution, average pooling and a squeeze) and seeded random
// float32 weights. Its forward pass takes milliseconds, so the partial and full
// strategies, the tail rebuild and the exports can be tested (and mutation-tested)
// end to end without loading the real backbone.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { createEngine, type Engine, type EngineOptions } from '../engine/engine.js';
import { pixelSource } from '../engine/data/examples.js';
import { syntheticImage, type SyntheticClass } from './synthetic.js';
import type { FileFetcher } from '../engine/model/fetch.js';
import type { GraphNode } from '../engine/model/graph.js';
import { createRng } from '../engine/util/random.js';
import { sha256Hex } from '../engine/util/hash.js';

export const TINY_BACKBONE_URL = 'https://models.edgetune.test/tiny/manifest.json';
export const TINY_SIZE = 32;
export const TINY_EMBEDDING = 40;
/** Bottleneck blocks before the last 1x1 convolution (the partial strategy's largest depth). */
export const TINY_BLOCKS = 4;

const GRAPH_FEATURE_NODE = 'feature_vector/SpatialSqueeze';
const b64 = (s: string) => btoa(s);
const ints = (...v: number[]) => ({ list: { i: v.map(String) } });
const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });

interface Built {
  nodes: GraphNode[];
  weights: { name: string; shape: number[]; dtype: 'float32' }[];
  values: number[];
}

function builder(seed: number) {
  const rng = createRng(seed);
  const out: Built = { nodes: [], weights: [], values: [] };
  const constant = (name: string, shape: number[], fill: (i: number) => number) => {
    out.nodes.push({ name, op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(shape) } }, dtype: { type: 'DT_FLOAT' } } });
    out.weights.push({ name, shape, dtype: 'float32' });
    const n = shape.reduce((p, d) => p * d, 1);
    for (let i = 0; i < n; i++) out.values.push(fill(i));
    return name;
  };
  // He-style scale so activations neither vanish nor saturate ReLU6 through the blocks.
  const random = (fanIn: number) => () => (rng() * 2 - 1) * Math.sqrt(3 / fanIn);
  const conv = (name: string, input: string, k: number, cin: number, cout: number, stride: number, act: boolean, depthwise = false) => {
    const kernel = constant(`${name}_weights`, depthwise ? [k, k, cin, 1] : [k, k, cin, cout], random(depthwise ? k * k : k * k * cin));
    const bias = constant(`${name}_bn_offset`, [depthwise ? cin : cout], () => (rng() - 0.5) * 0.2);
    const fused = act ? [b64('BiasAdd'), b64('Relu6')] : [b64('BiasAdd')];
    out.nodes.push({
      name,
      op: depthwise ? 'FusedDepthwiseConv2dNative' : '_FusedConv2D',
      input: [input, kernel, bias],
      attr: {
        dilations: ints(1, 1, 1, 1),
        T: { type: 'DT_FLOAT' },
        data_format: { s: b64('NHWC') },
        strides: ints(1, stride, stride, 1),
        num_args: { i: '1' },
        padding: { s: b64('SAME') },
        fused_ops: { list: { s: fused } },
        ...(depthwise ? {} : { use_cudnn_on_gpu: { b: true }, explicit_paddings: { list: {} }, epsilon: { f: 0 } }),
      },
    });
    return name;
  };
  return { out, constant, conv };
}

/** The graph: 32x32x3 -> stem 16x16x8 -> blocks -> 4x4x24 -> 1x1 conv to 40 -> pooled [n, 40]. */
export function tinyGraph(seed = 11): Built & { featureNode: string } {
  const { out, constant, conv } = builder(seed);
  out.nodes.push({ name: 'input', op: 'Placeholder', attr: { shape: { shape: dims([-1, TINY_SIZE, TINY_SIZE, 3]) }, dtype: { type: 'DT_FLOAT' } } });
  // (x * 2) - 1: the hub models' [0, 1] -> [-1, 1], as the bundled graph does it.
  const mulY = constant('hub_input/Mul/y', [], () => 2);
  const subY = constant('hub_input/Sub/y', [], () => 1);
  out.nodes.push({ name: 'hub_input/Mul', op: 'Mul', input: [mulY, 'input'], attr: { T: { type: 'DT_FLOAT' } } });
  out.nodes.push({ name: 'hub_input/Sub', op: 'Sub', input: ['hub_input/Mul', subY], attr: { T: { type: 'DT_FLOAT' } } });
  let x = conv('Conv/Relu6', 'hub_input/Sub', 3, 3, 8, 2, true);
  // Block 0: no expansion (depthwise, then a projection).
  x = conv('expanded_conv/depthwise', x, 3, 8, 8, 1, true, true);
  x = conv('expanded_conv/project', x, 1, 8, 8, 1, false);
  const block = (i: number, cin: number, cout: number, stride: number) => {
    const e = conv(`expanded_conv_${i}/expand`, x, 1, cin, cin * 3, 1, true);
    const d = conv(`expanded_conv_${i}/depthwise`, e, 3, cin * 3, cin * 3, stride, true, true);
    const p = conv(`expanded_conv_${i}/project`, d, 1, cin * 3, cout, 1, false);
    if (stride !== 1 || cin !== cout) return p;
    out.nodes.push({ name: `expanded_conv_${i}/add`, op: 'AddV2', input: [x, p], attr: { T: { type: 'DT_FLOAT' } } });
    return `expanded_conv_${i}/add`;
  };
  x = block(1, 8, 12, 2); // 16x16 -> 8x8
  x = block(2, 12, 12, 1); // residual
  x = block(3, 12, 24, 2); // 8x8 -> 4x4
  x = block(4, 24, 24, 1); // residual
  x = conv('Conv_1/Relu6', x, 1, 24, TINY_EMBEDDING, 1, true);
  out.nodes.push({
    name: 'Logits/AvgPool',
    op: 'AvgPool',
    input: [x],
    attr: { ksize: ints(1, 4, 4, 1), padding: { s: b64('VALID') }, T: { type: 'DT_FLOAT' }, strides: ints(1, 1, 1, 1), data_format: { s: b64('NHWC') } },
  });
  out.nodes.push({ name: 'feature_vector/SpatialSqueeze', op: 'Squeeze', input: ['Logits/AvgPool'], attr: { squeeze_dims: ints(1, 2), T: { type: 'DT_FLOAT' } } });
  return { ...out, featureNode: GRAPH_FEATURE_NODE };
}

/**
 * The same network as a Keras layers model, named as Keras' MobileNetV2 names its
 * layers (the bundled mobilenet_v2): zero-padded strided convolutions, bias-free
 * convolutions each followed by a BatchNormalization (random statistics, so the
 * folding is exercised), ReLU(6) layers, Adds, and `out_relu` average-pooled.
 */
export async function tinyLayersModelJson(seed = 11): Promise<{ modelJson: object; weights: Uint8Array }> {
  const rng = createRng(seed);
  // Building the layers initializes their weights: on the current backend, or the first registered.
  await tf.ready();
  const input = tfl.input({ shape: [TINY_SIZE, TINY_SIZE, 3], name: 'input_1' });
  let x = input;
  const apply = (layer: tfl.layers.Layer, input: tfl.SymbolicTensor | tfl.SymbolicTensor[]) => layer.apply(input) as tfl.SymbolicTensor;
  const convBn = (name: string, input: tfl.SymbolicTensor, k: number, filters: number, stride: number, relu: string | null, depthwise = false) => {
    let y = input;
    if (stride === 2) y = apply(tfl.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `${name}_pad` }), y);
    const padding = stride === 2 ? 'valid' : 'same';
    const conv = depthwise
      ? tfl.layers.depthwiseConv2d({ kernelSize: k, strides: stride, padding, useBias: false, name })
      : tfl.layers.conv2d({ kernelSize: k, filters, strides: stride, padding, useBias: false, name });
    y = apply(tfl.layers.batchNormalization({ epsilon: 1e-3, name: `${name}_BN` }), apply(conv, y));
    return relu ? apply(tfl.layers.reLU({ maxValue: 6, name: relu }), y) : y;
  };
  x = convBn('Conv1', x, 3, 8, 2, 'Conv1_relu');
  x = convBn('expanded_conv_depthwise', x, 3, 8, 1, 'expanded_conv_depthwise_relu', true);
  x = convBn('expanded_conv_project', x, 1, 8, 1, null);
  const block = (i: number, cin: number, cout: number, stride: number) => {
    let y = convBn(`block_${i}_expand`, x, 1, cin * 3, 1, `block_${i}_expand_relu`);
    y = convBn(`block_${i}_depthwise`, y, 3, cin * 3, stride, `block_${i}_depthwise_relu`, true);
    y = convBn(`block_${i}_project`, y, 1, cout, 1, null);
    return stride === 1 && cin === cout ? apply(tfl.layers.add({ name: `block_${i}_add` }), [x, y]) : y;
  };
  x = block(1, 8, 12, 2);
  x = block(2, 12, 12, 1);
  x = block(3, 12, 24, 2);
  x = block(4, 24, 24, 1);
  x = convBn('Conv_1', x, 1, TINY_EMBEDDING, 1, 'out_relu');
  const model = tfl.model({ inputs: input, outputs: x, name: 'tiny_mobilenet' });
  try {
    // Seeded weights: kernels at a He-style scale, BatchNorm statistics away from the identity.
    model.setWeights(
      model.weights.map((w) => {
        const shape = w.shape as number[];
        const n = shape.reduce((a, b) => a * b, 1);
        const fanIn = shape.length === 4 ? shape[0]! * shape[1]! * (w.name.includes('depthwise_kernel') ? 1 : shape[2]!) : 1;
        const fill = w.name.endsWith('kernel') ? () => (rng() * 2 - 1) * Math.sqrt(3 / fanIn) : w.name.endsWith('variance') ? () => 0.5 + rng() : w.name.endsWith('gamma') ? () => 0.7 + 0.6 * rng() : () => (rng() - 0.5) * 0.2;
        return tf.tensor(Float32Array.from({ length: n }, fill), shape);
      }),
    );
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const modelJson = { format: 'layers-model', generatedBy: 'edgetune tests', modelTopology: saved!.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: saved!.weightSpecs }] };
    return { modelJson, weights: new Uint8Array(saved!.weightData as ArrayBuffer) };
  } finally {
    model.dispose();
  }
}

export type TinyFormat = 'graph' | 'layers';

/**
 * The backbone's files (manifest.json, model.json, weights.bin), with the manifest's
 * sha256 and sizes. Built once per format and seed: tfjs-layers names a model's
 * weights uniquely per process, so a second build would be another backbone.
 */
export function tinyBackboneFiles(format: TinyFormat = 'graph', seed = 11): Promise<Map<string, Uint8Array>> {
  const key = `${format}/${seed}`;
  let files = built.get(key);
  if (!files) built.set(key, (files = buildFiles(format, seed)));
  return files;
}
const built = new Map<string, Promise<Map<string, Uint8Array>>>();

async function buildFiles(format: TinyFormat, seed: number): Promise<Map<string, Uint8Array>> {
  let modelJson: object;
  let weights: Uint8Array;
  if (format === 'graph') {
    const g = tinyGraph(seed);
    modelJson = { format: 'graph-model', generatedBy: 'edgetune tests', modelTopology: { node: g.nodes, versions: { producer: 175 } }, weightsManifest: [{ paths: ['weights.bin'], weights: g.weights }] };
    weights = new Uint8Array(Float32Array.from(g.values).buffer);
  } else {
    ({ modelJson, weights } = await tinyLayersModelJson(seed));
  }
  const files = new Map<string, Uint8Array>([
    ['model.json', new TextEncoder().encode(JSON.stringify(modelJson))],
    ['weights.bin', weights],
  ]);
  const listed: Record<string, { sha256: string; bytes: number }> = {};
  for (const [name, bytes] of files) listed[name] = { sha256: await sha256Hex(bytes), bytes: bytes.length };
  const manifest = {
    manifestVersion: 1,
    id: `tiny_mobilenet_${format}`,
    format,
    modelUrl: 'model.json',
    inputSize: [TINY_SIZE, TINY_SIZE],
    normalization: format === 'graph' ? { mean: [0, 0, 0], std: [1, 1, 1] } : { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    featureNode: format === 'graph' ? GRAPH_FEATURE_NODE : 'out_relu',
    pooling: format === 'graph' ? 'none' : 'avg',
    embeddingSize: TINY_EMBEDDING,
    files: listed,
  };
  files.set('manifest.json', new TextEncoder().encode(JSON.stringify(manifest)));
  return files;
}

/** Serves `files` (by name) under the folder of TINY_BACKBONE_URL. */
export function memoryFetcher(files: Map<string, Uint8Array>): FileFetcher {
  const base = new URL('./', TINY_BACKBONE_URL).href;
  return async (url) => {
    const bytes = url.href.startsWith(base) ? files.get(url.href.slice(base.length)) : undefined;
    if (!bytes) throw new Error(`no file at ${url.href}`);
    return bytes.slice();
  };
}

/** The tiny backbone's files with some replaced, served from memory; `relist` updates the manifest's sha256 and size of the replaced files. */
export async function servedTiny(format: TinyFormat, edit: { files?: Record<string, Uint8Array>; manifest?: (m: Record<string, any>) => void; relist?: boolean }): Promise<FileFetcher> {
  const files = new Map(await tinyBackboneFiles(format));
  for (const [name, bytes] of Object.entries(edit.files ?? {})) files.set(name, bytes);
  const m = JSON.parse(new TextDecoder().decode(files.get('manifest.json')));
  if (edit.relist) for (const name of Object.keys(edit.files ?? {})) m.files[name] = { sha256: await sha256Hex(files.get(name)!), bytes: files.get(name)!.length };
  edit.manifest?.(m);
  files.set('manifest.json', new TextEncoder().encode(JSON.stringify(m)));
  return memoryFetcher(files);
}

/** An engine on the tiny backbone (tfjs on WASM, else CPU), the graph model unless `format` says otherwise. */
export async function tinyEngine(opts: EngineOptions & { format?: TinyFormat; seed?: number } = {}): Promise<Engine> {
  const files = await tinyBackboneFiles(opts.format, opts.seed);
  return createEngine({ backends: ['wasm', 'cpu'], backbone: TINY_BACKBONE_URL, fetcher: memoryFetcher(files), ...opts });
}

/** A tiny engine holding `perClass` generated pictures (`size` px, seeds from `seed`) of each class. */
export async function tinyEngineWith(classes: readonly SyntheticClass[], perClass: number, opts: { format?: TinyFormat; seed?: number; size?: number } = {}): Promise<Engine> {
  const engine = await tinyEngine(opts.format ? { format: opts.format } : {});
  const from = opts.seed ?? 60;
  for (const label of classes) {
    await engine.addExamples(label, await Promise.all(Array.from({ length: perClass }, (_, i) => pixelSource(syntheticImage(label, from + i, opts.size ?? 48), `${label}${i}`))));
  }
  return engine;
}
