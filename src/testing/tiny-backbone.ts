// A MobileNetV2 in miniature, generated in code: a 32x32 tfjs graph model with
// the bundled graph backbone's structure (in-graph normalization, a strided stem,
// a block without expansion, strided and residual bottleneck blocks, a final
// expanding 1x1 convolution, average pooling and a squeeze) and seeded random
// float32 weights. Its forward pass takes milliseconds, so the partial and full
// strategies, the tail rebuild and the exports can be tested (and mutation-tested)
// end to end without loading the real backbone.
import { createEngine, type Engine, type EngineOptions } from '../engine/engine.js';
import type { FileFetcher } from '../engine/model/fetch.js';
import type { GraphNode } from '../engine/model/graph.js';
import { createRng } from '../engine/util/random.js';
import { sha256Hex } from '../engine/util/hash.js';

export const TINY_BACKBONE_URL = 'https://models.edgetune.test/tiny/manifest.json';
export const TINY_SIZE = 32;
export const TINY_EMBEDDING = 40;
/** Bottleneck blocks before the last 1x1 convolution (the partial strategy's largest depth). */
export const TINY_BLOCKS = 4;

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
  return { ...out, featureNode: 'feature_vector/SpatialSqueeze' };
}

/** The backbone's files (manifest.json, model.json, weights.bin), with the manifest's sha256 and sizes. */
export async function tinyBackboneFiles(seed = 11, id = 'tiny_mobilenet'): Promise<Map<string, Uint8Array>> {
  const g = tinyGraph(seed);
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'edgetune tests',
    convertedBy: 'edgetune tests',
    modelTopology: { node: g.nodes, versions: { producer: 175 } },
    weightsManifest: [{ paths: ['weights.bin'], weights: g.weights }],
  };
  const files = new Map<string, Uint8Array>([
    ['model.json', new TextEncoder().encode(JSON.stringify(modelJson))],
    ['weights.bin', new Uint8Array(Float32Array.from(g.values).buffer)],
  ]);
  const listed: Record<string, { sha256: string; bytes: number }> = {};
  for (const [name, bytes] of files) listed[name] = { sha256: await sha256Hex(bytes), bytes: bytes.length };
  const manifest = {
    manifestVersion: 1,
    id,
    format: 'graph',
    modelUrl: 'model.json',
    inputSize: [TINY_SIZE, TINY_SIZE],
    normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
    featureNode: g.featureNode,
    pooling: 'none',
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

/** An engine on the tiny backbone (tfjs on WASM, else CPU). */
export async function tinyEngine(opts: EngineOptions & { seed?: number } = {}): Promise<Engine> {
  const files = await tinyBackboneFiles(opts.seed);
  return createEngine({ backends: ['wasm', 'cpu'], backbone: TINY_BACKBONE_URL, fetcher: memoryFetcher(files), ...opts });
}
