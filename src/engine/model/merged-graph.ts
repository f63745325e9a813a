// The merged export: backbone, (tail) and head as one tfjs graph model that
// plain tf.loadGraphModel runs, without edgetune.
import * as tf from '@tensorflow/tfjs-core';
import { EDGETUNE_VERSION } from '../../constants.js';
import { EdgetuneError } from '../../errors.js';
import type { ModelFiles } from '../../types.js';
import { concatBytes } from '../util/bytes.js';
import type { Backbone } from './backbone.js';
import type { GraphNode } from './graph.js';
import type { Head } from './head.js';

const enc = new TextEncoder();


const FLOAT = { type: 'DT_FLOAT' };
function constNode(name: string, shape: number[], dtype = 'DT_FLOAT'): GraphNode {
  return {
    name,
    op: 'Const',
    attr: { value: { tensor: { dtype, tensorShape: { dim: shape.map((s) => ({ size: String(s) })) } } }, dtype: { type: dtype } },
  };
}
const opNode = (name: string, op: string, input: string[], attr: Record<string, unknown> = {}): GraphNode => ({
  name,
  op,
  input,
  attr: { T: FLOAT, ...attr },
});

/** Bytes a weight occupies in a tfjs weights file (quantized ones at their stored width). */
function byteLength(spec: tf.io.WeightsManifestEntry): number {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const width = dtype === 'uint8' ? 1 : dtype === 'uint16' || dtype === 'float16' ? 2 : 4;
  if (spec.dtype === 'string') throw new EdgetuneError('INTERNAL', `Cannot re-pack string weight '${spec.name}'`);
  return n * width;
}

/**
 * Appends pixel normalization in front of, and the head behind, a graph backbone:
 * pixels (0..255) -> backbone -> [Mean] -> MatMul/BiasAdd[/Relu] ... -> Softmax.
 * A fine-tuned tail's weights replace the backbone's.
 */
export async function buildMergedGraph(backbone: Backbone, head: Head, tailWeights: Map<string, { shape: number[]; data: Float32Array }>): Promise<ModelFiles> {
  const m = backbone.manifest;
  if (m.format !== 'graph') {
    throw new EdgetuneError('INVALID_ARGUMENT', `A merged export needs a graph backbone; '${m.id}' is a layers model. Export without merged.`);
  }
  const topo = backbone.artifacts.modelJson.modelTopology as { node: GraphNode[]; [k: string]: unknown };
  const inputNode = topo.node.find((n) => n.op === 'Placeholder');
  if (!inputNode) throw new EdgetuneError('INTERNAL', 'Backbone graph has no Placeholder input');
  const P = 'edgetune/';
  const nodes: GraphNode[] = [];
  const weights: { spec: tf.io.WeightsManifestEntry; data: Float32Array }[] = [];
  const addConst = (name: string, data: Float32Array | Int32Array, shape: number[]) => {
    const dtype = data instanceof Int32Array ? 'int32' : 'float32';
    nodes.push(constNode(P + name, shape, dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT'));
    weights.push({ spec: { name: P + name, shape, dtype }, data: data as Float32Array });
  };
  // Normalization: x = pixels * (1 / (255 * std)) - mean / std.
  const { mean, std } = m.normalization;
  addConst('norm/scale', Float32Array.from(std, (s) => 1 / (255 * s)), [3]);
  addConst('norm/offset', Float32Array.from(mean, (mu, i) => mu / std[i]!), [3]);
  nodes.push({ name: 'pixels', op: 'Placeholder', attr: inputNode.attr });
  nodes.push(opNode(P + 'norm/mul', 'Mul', ['pixels', P + 'norm/scale']));
  nodes.push(opNode(P + 'norm/sub', 'Sub', [P + 'norm/mul', P + 'norm/offset']));
  const rewired = topo.node
    .filter((n) => n !== inputNode)
    // Data inputs now read the normalized pixels; control inputs ('^input') the new placeholder.
    .map((n) => ({ ...n, input: n.input?.map((i) => (i === inputNode.name ? P + 'norm/sub' : i === `^${inputNode.name}` ? '^pixels' : i)) }));

  let x = m.featureNode;
  if (m.pooling === 'avg') {
    addConst('pool/axes', Int32Array.from([1, 2]), [2]);
    nodes.push(opNode(P + 'pool', 'Mean', [x, P + 'pool/axes'], { keep_dims: { b: false }, Tidx: { type: 'DT_INT32' } }));
    x = P + 'pool';
  }
  const folded = head.foldedWeights();
  try {
    for (let i = 0; i < folded.length; i += 2) {
      const [k, b] = [folded[i]!, folded[i + 1]!];
      const name = `dense${i / 2}`;
      addConst(`${name}/kernel`, (await k.data()) as Float32Array, k.shape);
      addConst(`${name}/bias`, (await b.data()) as Float32Array, b.shape);
      nodes.push(opNode(`${P}${name}/matmul`, 'MatMul', [x, `${P}${name}/kernel`], { transpose_a: { b: false }, transpose_b: { b: false } }));
      nodes.push(opNode(`${P}${name}/bias_add`, 'BiasAdd', [`${P}${name}/matmul`, `${P}${name}/bias`]));
      x = `${P}${name}/bias_add`;
      if (i + 2 < folded.length) {
        nodes.push(opNode(`${P}${name}/relu`, 'Relu', [x]));
        x = `${P}${name}/relu`;
      }
    }
  } finally {
    tf.dispose(folded);
  }
  nodes.push(opNode(P + 'probabilities', 'Softmax', [x]));

  // Weights: the backbone's bytes as they are (quantized specs kept) except the
  // fine-tuned tail's, which are replaced by float32 ones, then the head's.
  const kept: { spec: tf.io.WeightsManifestEntry; bytes: Uint8Array }[] = [];
  let off = 0;
  for (const spec of backbone.artifacts.modelJson.weightsManifest.flatMap((g) => g.weights)) {
    const n = byteLength(spec);
    const bytes = backbone.artifacts.weightData.subarray(off, off + n);
    off += n;
    if (!tailWeights.has(spec.name)) kept.push({ spec, bytes });
  }
  for (const [name, w] of tailWeights) weights.push({ spec: { name, shape: w.shape, dtype: 'float32' }, data: w.data });
  const data = concatBytes([...kept.map((k) => k.bytes), ...weights.map((w) => w.data)]);
  const sigInput = { 'pixels:0': { name: 'pixels:0', dtype: 'DT_FLOAT', tensorShape: (inputNode.attr as { shape?: { shape?: unknown } })?.shape?.shape } };
  const json = {
    format: 'graph-model',
    generatedBy: `edgetune ${EDGETUNE_VERSION}`,
    convertedBy: `edgetune ${EDGETUNE_VERSION} (backbone ${m.id} + trained head)`,
    signature: { inputs: sigInput, outputs: { [`${P}probabilities:0`]: { name: `${P}probabilities:0`, dtype: 'DT_FLOAT' } } },
    modelTopology: { ...topo, node: [...nodes, ...rewired] },
    weightsManifest: [
      { paths: ['weights.bin'], weights: [...kept.map((k) => k.spec), ...weights.map((w) => w.spec)] },
    ],
  };
  return { 'merged/model.json': enc.encode(JSON.stringify(json)), 'merged/weights.bin': data };
}
