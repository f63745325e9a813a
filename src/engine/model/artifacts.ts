// Export/import of a trained classifier as a self-describing set of files:
//   edgetune.json          labels, backbone identity, preprocessing, training config, metrics, file hashes
//   model.json, weights.bin  the head as a tfjs-layers model (softmax output, over raw embeddings)
//   merged/model.json, merged/weights.bin   optional: backbone + head in one tfjs model, input RGB 0..255
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { EDGETUNE_VERSION } from '../../constants.js';
import { checkFinite, checkHeadJson, checkLabels } from './import-checks.js';
import { EdgetuneError, asEdgetuneError } from '../../errors.js';
import type { ModelFiles, ModelMetadata } from '../../types.js';

export type { ModelMetadata } from '../../types.js';
import { toArrayBuffer, type Backbone } from './backbone.js';

import { Head } from './head.js';
import { PREPROCESS_VERSION } from '../data/preprocess.js';
import { OpenSet } from './open-set.js';
import { Tail } from './tail.js';
import { sha256Hex } from '../util/hash.js';
import { concatBytes } from '../util/bytes.js';
import { buildMergedGraph } from './merged-graph.js';

/** Version 2 adds a fine-tuned backbone tail (partial strategy); head-only exports stay version 1. */
export const FORMAT_VERSION = 2;


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
  evaluation?: ModelMetadata['evaluation'];
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
    files['tail.bin'] = concatBytes(tailWeights.map((w) => w.data));
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
    ...(input.evaluation ? { evaluation: input.evaluation } : {}),
    ...(merged ? { merged } : {}),
    files: {},
  };
  for (const [name, bytes] of Object.entries(files)) meta.files[name] = { sha256: await sha256Hex(bytes), bytes: bytes.length };
  files['edgetune.json'] = enc.encode(JSON.stringify(meta, null, 2));
  return files;
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
  checkLabels(meta.labels);
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
  for (const name of ['weights.bin', ...(meta.tail ? ['tail.bin'] : []), ...(meta.openSet ? ['prototypes.bin'] : [])]) checkFinite(files[name]!, name);
  let json: { modelTopology: unknown; weightsManifest: { weights: unknown[] }[] };
  try {
    json = JSON.parse(dec.decode(files['model.json']));
  } catch (err) {
    throw asEdgetuneError(err, 'MODEL_LOAD_FAILED', 'model.json is not valid JSON');
  }
  checkHeadJson(json, files['weights.bin']!.length, backbone.manifest.embeddingSize);
  let model: LayersModel;
  try {
    model = await loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
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
  const depth = spec.unfreezeBlocks;
  if (depth !== 'all' && !(Number.isInteger(depth) && depth >= 0 && depth <= 64)) {
    throw new EdgetuneError('MODEL_LOAD_FAILED', `model.json: tail.unfreezeBlocks must be 'all' or an integer in 0..64, got ${JSON.stringify(depth)}`);
  }
  const tail = await Tail.fromBackbone(backbone, depth);
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
