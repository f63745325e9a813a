// Export/import of a trained classifier as a self-describing set of files:
//   edgetune.json          labels, backbone identity, preprocessing, training config, metrics, file hashes
//   model.json, weights.bin  the head as a tfjs-layers model (softmax output, over raw embeddings)
//   merged/model.json, merged/weights.bin   optional: backbone + head in one tfjs model, input RGB 0..255
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { EdgetuneError, asEdgetuneError } from '../../errors.js';
import type { ModelFiles, ResolvedTrainConfig } from '../../types.js';
import { toArrayBuffer, type Backbone } from './backbone.js';
import { sha256Hex } from './fetch.js';
import { Head } from './head.js';
import { PREPROCESS_VERSION } from '../data/preprocess.js';
import { OpenSet } from './open-set.js';
import { Tail } from './tail.js';

/** Version 2 adds a fine-tuned backbone tail (partial strategy); head-only exports stay version 1. */
export const FORMAT_VERSION = 2;
export const EDGETUNE_VERSION = '0.1.0';

export interface ModelMetadata {
  format: 'edgetune-model';
  formatVersion: number;
  edgetuneVersion: string;
  createdAt: string;
  labels: string[];
  backbone: {
    id: string;
    manifestHash: string;
    inputSize: [number, number];
    normalization: { mean: number[]; std: number[] };
    embeddingSize: number;
  };
  preprocessing: { version: number; resize: 'bilinear-squash'; alpha: 'flatten-white' };
  head: { hiddenUnits: number; modelUrl: 'model.json' };
  /** Partial strategy: the fine-tuned backbone tail, float32 weights by graph node name, concatenated in tail.bin. */
  tail?: { cutNode: string; unfreezeBlocks: number; weightsUrl: 'tail.bin'; weights: { name: string; shape: number[] }[] };
  /** Open-set rejection: class prototypes (float32 [classes, features] in prototypes.bin) and the calibrated cosine threshold. */
  openSet?: { thresholds: number[]; calibratedOn: number; prototypesUrl: 'prototypes.bin' };
  training?: { config: ResolvedTrainConfig; epochsRun: number; bestEpoch: number; bestValAccuracy?: number };
  metrics?: Record<string, number>;
  merged?: { modelUrl: string; input: string; output: string };
  /** sha256 of every other file in the export. */
  files: Record<string, { sha256: string; bytes: number }>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Saves a tfjs-layers model to model.json + one weights file, in memory. */
async function layersToFiles(model: LayersModel, weightsName: string): Promise<{ json: Uint8Array; weights: Uint8Array }> {
  let out: { json: Uint8Array; weights: Uint8Array } | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const weights = new Uint8Array(a.weightData as ArrayBuffer);
      const json = {
        format: 'layers-model',
        generatedBy: `edgetune ${EDGETUNE_VERSION}`,
        convertedBy: null,
        modelTopology: a.modelTopology,
        weightsManifest: [{ paths: [weightsName], weights: a.weightSpecs }],
      };
      out = { json: enc.encode(JSON.stringify(json)), weights };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return out!;
}

export interface ExportInput {
  backbone: Backbone;
  head: Head;
  tail?: Tail | null;
  openSet?: OpenSet | null;
  labels: string[];
  training?: ModelMetadata['training'];
  metrics?: Record<string, number>;
  merged?: boolean;
}

/** Exports a trained head (and optionally a merged model) as named files. */
export async function exportModel(input: ExportInput): Promise<ModelFiles> {
  const { backbone, head, labels } = input;
  const files: ModelFiles = {};
  const model = head.toLayersModel();
  try {
    const { json, weights } = await layersToFiles(model, 'weights.bin');
    files['model.json'] = json;
    files['weights.bin'] = weights;
  } finally {
    model.dispose();
  }
  let tailMeta: ModelMetadata['tail'];
  const tailWeights = input.tail ? await Promise.all(input.tail.weights().map(async (w) => ({ name: w.name, shape: w.tensor.shape, data: (await w.tensor.data()) as Float32Array }))) : [];
  if (input.tail) {
    files['tail.bin'] = concatFloats(tailWeights.map((w) => w.data));
    tailMeta = {
      cutNode: input.tail.plan.cutNode,
      unfreezeBlocks: input.tail.blocks,
      weightsUrl: 'tail.bin',
      weights: tailWeights.map((w) => ({ name: w.name, shape: w.shape })),
    };
  }
  if (input.openSet) files['prototypes.bin'] = new Uint8Array((await input.openSet.prototypes.data()).slice().buffer);
  let merged: ModelMetadata['merged'];
  if (input.merged) {
    Object.assign(files, await buildMergedGraph(backbone, head, new Map(tailWeights.map((w) => [w.name, w]))));
    merged = { modelUrl: 'merged/model.json', input: 'pixels', output: 'edgetune/probabilities' };
  }
  const m = backbone.manifest;
  const meta: ModelMetadata = {
    format: 'edgetune-model',
    formatVersion: tailMeta ? 2 : 1,
    edgetuneVersion: EDGETUNE_VERSION,
    createdAt: new Date().toISOString(),
    labels,
    backbone: {
      id: m.id,
      manifestHash: backbone.manifestHash,
      inputSize: m.inputSize,
      normalization: m.normalization,
      embeddingSize: m.embeddingSize,
    },
    preprocessing: { version: PREPROCESS_VERSION, resize: 'bilinear-squash', alpha: 'flatten-white' },
    head: { hiddenUnits: head.spec.hiddenUnits, modelUrl: 'model.json' },
    ...(tailMeta ? { tail: tailMeta } : {}),
    ...(input.openSet ? { openSet: { thresholds: input.openSet.thresholds, calibratedOn: input.openSet.calibratedOn, prototypesUrl: 'prototypes.bin' as const } } : {}),
    ...(input.training ? { training: input.training } : {}),
    ...(input.metrics ? { metrics: input.metrics } : {}),
    ...(merged ? { merged } : {}),
    files: {},
  };
  for (const [name, bytes] of Object.entries(files)) meta.files[name] = { sha256: await sha256Hex(bytes), bytes: bytes.length };
  files['edgetune.json'] = enc.encode(JSON.stringify(meta, null, 2));
  return files;
}

function concatFloats(parts: Float32Array[]): Uint8Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return new Uint8Array(out.buffer);
}

function incompatible(msg: string): never {
  throw new EdgetuneError('MODEL_INCOMPATIBLE', msg);
}

/** Parses and checks edgetune.json against the loaded backbone. */
export function parseMetadata(files: ModelFiles, backbone: Backbone): ModelMetadata {
  const raw = files['edgetune.json'];
  if (!raw) throw new EdgetuneError('MODEL_LOAD_FAILED', 'Model files have no edgetune.json (is this an edgetune export?)');
  let meta: ModelMetadata;
  try {
    meta = JSON.parse(dec.decode(raw));
  } catch (err) {
    throw new EdgetuneError('MODEL_LOAD_FAILED', `edgetune.json is not valid JSON: ${(err as Error).message}`);
  }
  if (meta?.format !== 'edgetune-model') throw new EdgetuneError('MODEL_LOAD_FAILED', "edgetune.json: format must be 'edgetune-model'");
  if (!Number.isInteger(meta.formatVersion) || meta.formatVersion > FORMAT_VERSION) {
    incompatible(`Model format version ${meta.formatVersion} is newer than this edgetune supports (${FORMAT_VERSION}); upgrade edgetune`);
  }
  if (!Array.isArray(meta.labels) || meta.labels.length < 2 || meta.labels.some((l) => typeof l !== 'string')) {
    throw new EdgetuneError('MODEL_LOAD_FAILED', 'edgetune.json: labels must list at least two class names');
  }
  if (meta.backbone?.manifestHash !== backbone.manifestHash) {
    incompatible(
      `Model was trained on backbone '${meta.backbone?.id}' (manifest ${String(meta.backbone?.manifestHash).slice(0, 12)}), ` +
        `but '${backbone.manifest.id}' (manifest ${backbone.manifestHash.slice(0, 12)}) is loaded; load it with backbone '${meta.backbone?.id}'`,
    );
  }
  if (meta.preprocessing?.version !== PREPROCESS_VERSION) {
    incompatible(`Model uses preprocessing version ${meta.preprocessing?.version}, this edgetune uses ${PREPROCESS_VERSION}`);
  }
  return meta;
}

/** Imports the head from exported files, verifying every file hash listed in edgetune.json. */
export async function importModel(
  files: ModelFiles,
  backbone: Backbone,
): Promise<{ head: Head; tail: Tail | null; openSet: OpenSet | null; meta: ModelMetadata }> {
  const meta = parseMetadata(files, backbone);
  for (const name of ['model.json', 'weights.bin', ...(meta.tail ? ['tail.bin'] : []), ...(meta.openSet ? ['prototypes.bin'] : [])]) {
    const f = files[name];
    const want = meta.files?.[name];
    if (!f || !want) throw new EdgetuneError('MODEL_LOAD_FAILED', `Model files lack ${name}`);
    if (f.length !== want.bytes || (await sha256Hex(f)) !== want.sha256) {
      throw new EdgetuneError('MODEL_INTEGRITY', `${name} does not match the sha256/size recorded in edgetune.json`);
    }
  }
  let model: LayersModel;
  try {
    const json = JSON.parse(dec.decode(files['model.json']));
    model = await loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights),
        weightData: toArrayBuffer(files['weights.bin']!),
      }),
    );
  } catch (err) {
    throw asEdgetuneError(err, 'MODEL_LOAD_FAILED', 'Cannot load the head model');
  }
  try {
    const weights = model.getWeights();
    const inputSize = weights[0]?.shape[0];
    const numClasses = weights[weights.length - 1]?.shape[0];
    if (inputSize !== backbone.manifest.embeddingSize) incompatible(`Head expects ${inputSize} features, backbone gives ${backbone.manifest.embeddingSize}`);
    if (numClasses !== meta.labels.length) incompatible(`Head has ${numClasses} outputs for ${meta.labels.length} labels`);
    const protos = meta.openSet ? new Float32Array(toArrayBuffer(files['prototypes.bin']!)) : null;
    const th = meta.openSet?.thresholds;
    if (protos && (protos.length !== numClasses * inputSize || !Array.isArray(th) || th.length !== numClasses || !th.every(Number.isFinite))) {
      throw new EdgetuneError('MODEL_LOAD_FAILED', `prototypes.bin has ${protos.length} values, expected ${numClasses} x ${inputSize}`);
    }
    const tail = meta.tail ? await importTail(meta.tail, files['tail.bin']!, backbone) : null;
    const head = Head.fromWeights({ inputSize, numClasses, hiddenUnits: meta.head?.hiddenUnits ?? 0 }, weights);
    const openSet = protos ? OpenSet.fromValues(protos, numClasses, th!, meta.openSet!.calibratedOn) : null;
    return { head, tail, openSet, meta };
  } finally {
    model.dispose();
  }
}

async function importTail(spec: NonNullable<ModelMetadata['tail']>, bytes: Uint8Array, backbone: Backbone): Promise<Tail> {
  const tail = await Tail.fromBackbone(backbone, spec.unfreezeBlocks);
  try {
    if (tail.plan.cutNode !== spec.cutNode) incompatible(`Tail starts at '${spec.cutNode}', the backbone's at '${tail.plan.cutNode}'`);
    const floats = new Float32Array(toArrayBuffer(bytes));
    const weights = new Map<string, tf.Tensor>();
    let o = 0;
    for (const w of spec.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (o + n > floats.length) throw new EdgetuneError('MODEL_LOAD_FAILED', 'tail.bin is shorter than its weights list');
      weights.set(w.name, tf.tensor(floats.subarray(o, o + n), w.shape));
      o += n;
    }
    try {
      tail.load(weights);
    } finally {
      tf.dispose([...weights.values()]);
    }
    return tail;
  } catch (err) {
    tail.dispose();
    throw err;
  }
}

// ---- merged graph model -------------------------------------------------------

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

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

/**
 * Appends pixel normalization in front of, and the head behind, a graph backbone:
 * pixels (0..255) -> backbone -> [Mean] -> MatMul/BiasAdd[/Relu] ... -> Softmax.
 */
/** Bytes a weight occupies in a tfjs weights file (quantized ones at their stored width). */
function byteLength(spec: tf.io.WeightsManifestEntry): number {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const width = dtype === 'uint8' ? 1 : dtype === 'uint16' || dtype === 'float16' ? 2 : 4;
  if (spec.dtype === 'string') throw new EdgetuneError('INTERNAL', `Cannot re-pack string weight '${spec.name}'`);
  return n * width;
}

async function buildMergedGraph(backbone: Backbone, head: Head, tailWeights: Map<string, { shape: number[]; data: Float32Array }>): Promise<ModelFiles> {
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
  const parts = [...kept.map((k) => k.bytes), ...weights.map((w) => new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength))];
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.length;
  }
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
