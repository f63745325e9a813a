// Loads a frozen backbone from its manifest, verifying every file's sha256 and
// size before tfjs sees a byte, then warms it up.
import * as tf from '@tensorflow/tfjs-core';
import { GraphModel as GraphModelClass, loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { loadLayersModel, model as layersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { EdgetuneError, asEdgetuneError } from '../../errors.js';
import { BUNDLED_BACKBONES, parseManifest, type BackboneManifest } from './manifest.js';
import { defaultFetcher, METADATA_MAX_BYTES, resolveAllowed, type FetchPolicy } from './fetch.js';
import { packageRootUrl } from '../package-url.js';
import { concatBytes } from '../util/bytes.js';
import { sha256Hex } from '../util/hash.js';

/** The model files as loaded: kept so a merged model can be exported without refetching. */
export interface BackboneArtifacts {
  modelJson: { modelTopology: unknown; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]; [k: string]: unknown };
  weightData: Uint8Array;
}

export interface Backbone {
  readonly manifest: BackboneManifest;
  /** sha256 of the manifest file: identifies the exact backbone a head was trained on. */
  readonly manifestHash: string;
  readonly manifestUrl: string;
  readonly artifacts: BackboneArtifacts;
  /** Normalized input [n, h, w, 3] -> embeddings [n, embeddingSize]. Call inside tf.tidy. */
  embed(input: tf.Tensor4D): tf.Tensor2D;
  /**
   * Graph backbones: the activations at `cutNode` and the embeddings, in one pass.
   * Call inside tf.tidy.
   */
  embedWithPrefix(input: tf.Tensor4D, cutNode: string): { prefix: tf.Tensor4D; embedding: tf.Tensor2D };
  /** Graph backbones: only the activations at `cutNode` (the frozen prefix). Call inside tf.tidy. */
  prefix(input: tf.Tensor4D, cutNode: string): tf.Tensor4D;
  /** The loaded tfjs model (a GraphModel or the feature sub-model of a LayersModel). */
  readonly model: GraphModel | LayersModel;
  dispose(): void;
}

export interface BackboneLoadOptions extends FetchPolicy {
  /** Base URL of the bundled backbones (a folder holding <id>/manifest.json). */
  modelBaseUrl?: string | URL;
}

/** The package's own models/ folder, resolved from this module's location (src/engine or dist/engine). */
export function packageModelBaseUrl(): URL {
  return new URL('models/', packageRootUrl());
}

/** Turns a bundled id, a manifest URL or a file path into the manifest's URL. */
export function resolveManifestUrl(backbone: string, modelBaseUrl?: string | URL): URL {
  if ((BUNDLED_BACKBONES as readonly string[]).includes(backbone)) {
    const base = modelBaseUrl ? new URL(String(modelBaseUrl).replace(/\/?$/, '/'), baseForRelative()) : packageModelBaseUrl();
    return new URL(`${backbone}/manifest.json`, base);
  }
  if (/^[\w.-]+$/.test(backbone) && !backbone.endsWith('.json')) {
    throw new EdgetuneError(
      'UNKNOWN_BACKBONE',
      `Unknown backbone '${backbone}'. Bundled backbones are: ${BUNDLED_BACKBONES.join(', ')}; ` +
        'or pass the URL or path of a manifest.json.',
    );
  }
  return new URL(backbone, baseForRelative());
}

function baseForRelative(): URL {
  const loc = (globalThis as { location?: { href: string } }).location;
  if (loc) return new URL(loc.href);
  const cwd = (globalThis as { process?: { cwd(): string } }).process?.cwd() ?? '/';
  return new URL(`file://${cwd.replace(/\/?$/, '/')}`);
}

async function verified(url: URL, expect: { sha256: string; bytes: number } | undefined, policy: FetchPolicy): Promise<Uint8Array> {
  if (!expect) throw new EdgetuneError('MODEL_INTEGRITY', `${url.href} is not listed in the manifest's files`);
  if (!Number.isInteger(expect.bytes) || expect.bytes < 0) throw new EdgetuneError('MODEL_LOAD_FAILED', `The manifest declares an invalid size for ${url.href}`);
  // Never more than the manifest declares: a crafted file (or /dev/zero) is refused, not read.
  const bytes = await (policy.fetcher ?? defaultFetcher)(url, expect.bytes);
  if (bytes.length !== expect.bytes) {
    throw new EdgetuneError('MODEL_INTEGRITY', `${url.href} is ${bytes.length} bytes, the manifest declares ${expect.bytes}`);
  }
  const hash = await sha256Hex(bytes);
  if (hash !== expect.sha256) {
    throw new EdgetuneError('MODEL_INTEGRITY', `${url.href} has sha256 ${hash}, the manifest declares ${expect.sha256}`);
  }
  return bytes;
}


/** Exact-length ArrayBuffer copy of a view (tfjs needs a whole ArrayBuffer). */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

async function fetchArtifacts(manifest: BackboneManifest, manifestUrl: URL, policy: FetchPolicy): Promise<BackboneArtifacts> {
  const origin = manifestUrl.origin;
  const modelUrl = resolveAllowed(manifest.modelUrl, manifestUrl, origin, policy);
  const jsonBytes = await verified(modelUrl, manifest.files[manifest.modelUrl], policy);
  let modelJson: BackboneArtifacts['modelJson'];
  try {
    modelJson = JSON.parse(new TextDecoder().decode(jsonBytes));
  } catch (err) {
    throw new EdgetuneError('MODEL_LOAD_FAILED', `${modelUrl.href} is not valid JSON: ${(err as Error).message}`);
  }
  if (!modelJson?.modelTopology || !Array.isArray(modelJson.weightsManifest)) {
    throw new EdgetuneError('MODEL_LOAD_FAILED', `${modelUrl.href} is not a tfjs model.json (no modelTopology/weightsManifest)`);
  }
  const shards = await Promise.all(
    modelJson.weightsManifest.flatMap((g) => g.paths).map((p) => {
      // Shard names are relative to model.json; the manifest lists them relative to itself.
      const url = resolveAllowed(p, modelUrl, origin, policy);
      const key = new URL(p, new URL(manifest.modelUrl, 'x:/')).pathname.slice(1);
      return verified(url, manifest.files[key], policy);
    }),
  );
  return { modelJson, weightData: concatBytes(shards) };
}

async function fetchBackbone(backbone: string, manifestUrl: URL, opts: BackboneLoadOptions) {
  const manifestBytes = await (opts.fetcher ?? defaultFetcher)(manifestUrl, METADATA_MAX_BYTES);
  const manifest = parseManifest(new TextDecoder().decode(manifestBytes));
  const manifestHash = await sha256Hex(manifestBytes);
  return { manifest, manifestHash, artifacts: await fetchArtifacts(manifest, manifestUrl, opts) };
}

/** A bundled backbone that cannot be fetched: say where it was looked for and what to pass. */
function withLoadHint(err: unknown, backbone: string): unknown {
  if (!(err instanceof EdgetuneError) || err.code !== 'MODEL_LOAD_FAILED' || !(BUNDLED_BACKBONES as readonly string[]).includes(backbone)) return err;
  return new EdgetuneError(
    'MODEL_LOAD_FAILED',
    `${err.message}. The bundled backbone '${backbone}' loads from the package's models/ folder: serve it with the app, or pass modelBaseUrl (the folder holding ${backbone}/manifest.json)`,
    { cause: err },
  );
}

function ioHandler(a: BackboneArtifacts): tf.io.IOHandler {
  return {
    load: async () => ({
      modelTopology: a.modelJson.modelTopology as {},
      weightSpecs: a.modelJson.weightsManifest.flatMap((g) => g.weights),
      weightData: toArrayBuffer(a.weightData),
      format: a.modelJson.format as string | undefined,
      signature: a.modelJson.signature as {} | undefined,
    }),
  };
}

/**
 * Loads, verifies and warms up a backbone.
 *
 * @param backbone a bundled id (`'mobilenet_v2_140'`, `'mobilenet_v2'`) or a manifest URL/path.
 * @throws EdgetuneError UNKNOWN_BACKBONE, MODEL_LOAD_FAILED, MODEL_INTEGRITY, FORBIDDEN_ORIGIN, MODEL_INCOMPATIBLE
 * @example
 *   const bb = await loadBackbone('mobilenet_v2_140');
 *   bb.manifest.embeddingSize // 1792
 */
export async function loadBackbone(backbone: string, opts: BackboneLoadOptions = {}): Promise<Backbone> {
  const manifestUrl = resolveManifestUrl(backbone, opts.modelBaseUrl);
  const { manifest, manifestHash, artifacts } = await fetchBackbone(backbone, manifestUrl, opts).catch((err) => {
    throw withLoadHint(err, backbone);
  });

  let model: GraphModel | LayersModel;
  let embed: (x: tf.Tensor4D) => tf.Tensor2D;
  try {
    if (manifest.format === 'graph') {
      const graph = await loadGraphModel(ioHandler(artifacts));
      model = graph;
      embed = (x) => graph.execute(x, manifest.featureNode) as tf.Tensor2D;
    } else {
      const full = await loadLayersModel(ioHandler(artifacts));
      const features = layersModel({ inputs: full.inputs, outputs: full.getLayer(manifest.featureNode).output as never });
      full.layers.forEach((l) => (l.trainable = false));
      model = features;
      embed = (x) => features.predict(x) as tf.Tensor2D;
    }
  } catch (err) {
    throw asEdgetuneError(err, 'MODEL_LOAD_FAILED', `Cannot build backbone '${manifest.id}' from ${manifestUrl.href}`);
  }
  // Layers backbones: a two-output view of the same layers (cut activations and features), built once per cut.
  const prefixModels = new Map<string, LayersModel>();
  const withPrefix = (cut: string): LayersModel => {
    const lm = model as LayersModel;
    let m = prefixModels.get(cut);
    if (!m) {
      m = layersModel({ inputs: lm.inputs, outputs: [lm.getLayer(cut).output, lm.getLayer(manifest.featureNode).output] as never });
      prefixModels.set(cut, m);
    }
    return m;
  };
  const pooled =
    manifest.pooling === 'avg' ? (x: tf.Tensor4D) => tf.mean(embed(x) as unknown as tf.Tensor4D, [1, 2]) as tf.Tensor2D : embed;

  const bb: Backbone = {
    manifest,
    manifestHash,
    manifestUrl: manifestUrl.href,
    artifacts,
    model,
    embed: (x) => {
      const y = pooled(x);
      return y.rank === 2 ? y : (tf.reshape(y, [y.shape[0], -1]) as tf.Tensor2D);
    },
    embedWithPrefix: (x, cutNode) => {
      const [prefix, y] = model instanceof GraphModelClass ? (model.execute(x, [cutNode, manifest.featureNode]) as tf.Tensor[]) : (withPrefix(cutNode).predict(x) as tf.Tensor[]);
      const feat = manifest.pooling === 'avg' ? tf.mean(y!, [1, 2]) : y!;
      return { prefix: prefix as tf.Tensor4D, embedding: (feat.rank === 2 ? feat : tf.reshape(feat, [feat.shape[0]!, -1])) as tf.Tensor2D };
    },
    prefix: (x, cutNode) =>
      model instanceof GraphModelClass ? (model.execute(x, cutNode) as tf.Tensor4D) : ((withPrefix(cutNode).predict(x) as tf.Tensor[])[0] as tf.Tensor4D),
    dispose: () => model.dispose(),
  };
  checkShapes(bb);
  return bb;
}

/** Warm-up that doubles as a shape check: catches a manifest that does not fit its model. */
function checkShapes(bb: Backbone): void {
  const [h, w] = bb.manifest.inputSize;
  let dim: number;
  try {
    const y = tf.tidy(() => bb.embed(tf.zeros([1, h, w, 3])));
    dim = y.shape[1] as number;
    y.dispose();
  } catch (err) {
    bb.dispose();
    throw asEdgetuneError(err, 'MODEL_INCOMPATIBLE', `Backbone '${bb.manifest.id}' failed on a ${h}x${w} input`);
  }
  if (dim !== bb.manifest.embeddingSize) {
    bb.dispose();
    throw new EdgetuneError(
      'MODEL_INCOMPATIBLE',
      `Backbone '${bb.manifest.id}' outputs ${dim} features, its manifest declares embeddingSize ${bb.manifest.embeddingSize}`,
    );
  }
}
