// The backbone manifest: what edgetune needs to know to use any tfjs graph or
// layers model as a frozen feature extractor. Documented in models/README.md.
import { EdgetuneError } from '../../errors.js';

export const MANIFEST_VERSION = 1;

/** Backbones bundled under models/<id>/. The first is the default. */
export const BUNDLED_BACKBONES = ['mobilenet_v2_140', 'mobilenet_v2'] as const;
export const DEFAULT_BACKBONE = BUNDLED_BACKBONES[0];

export interface BackboneManifest {
  manifestVersion: number;
  id: string;
  name?: string;
  format: 'graph' | 'layers';
  /** model.json, relative to the manifest. */
  modelUrl: string;
  /** [height, width] of the model input. */
  inputSize: [number, number];
  /** Input = (rgb / 255 - mean) / std, per channel. */
  normalization: { mean: [number, number, number]; std: [number, number, number] };
  /** Graph: the output node name. Layers: the output layer name. */
  featureNode: string;
  /** 'avg' averages a 4-D feature map over height and width. */
  pooling: 'none' | 'avg';
  embeddingSize: number;
  source?: Record<string, string>;
  license?: string;
  /** Every file of the model (model.json and its weight shards): sha256 hex and size in bytes. */
  files: Record<string, { sha256: string; bytes: number }>;
}

function fail(msg: string): never {
  throw new EdgetuneError('MODEL_LOAD_FAILED', `Invalid backbone manifest: ${msg}`);
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isTriple = (v: unknown): v is [number, number, number] => Array.isArray(v) && v.length === 3 && v.every(isNum);

/** Parses and validates a manifest, naming the first field that is wrong. */
export function parseManifest(text: string): BackboneManifest {
  let m: Partial<BackboneManifest>;
  try {
    m = JSON.parse(text);
  } catch (err) {
    fail(`not JSON (${(err as Error).message})`);
  }
  if (!m || typeof m !== 'object') fail('expected a JSON object');
  if (m.manifestVersion !== MANIFEST_VERSION) fail(`manifestVersion must be ${MANIFEST_VERSION}, got ${m.manifestVersion}`);
  if (typeof m.id !== 'string' || !/^[\w.-]{1,100}$/.test(m.id)) fail(`id must match [A-Za-z0-9_.-]{1,100}, got ${JSON.stringify(m.id)}`);
  if (m.format !== 'graph' && m.format !== 'layers') fail(`format must be 'graph' or 'layers', got ${JSON.stringify(m.format)}`);
  if (typeof m.modelUrl !== 'string') fail('modelUrl must be a string');
  const size = m.inputSize;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isInteger(s) && s >= 8 && s <= 1024)) {
    fail(`inputSize must be [height, width] with integers in 8..1024, got ${JSON.stringify(size)}`);
  }
  const norm = m.normalization;
  if (!norm || !isTriple(norm.mean) || !isTriple(norm.std) || norm.std.some((s) => s <= 0)) {
    fail('normalization must be { mean: [r,g,b], std: [r,g,b] } with positive std');
  }
  if (typeof m.featureNode !== 'string' || !m.featureNode) fail('featureNode must name the output node or layer');
  if (m.pooling !== 'none' && m.pooling !== 'avg') fail(`pooling must be 'none' or 'avg', got ${JSON.stringify(m.pooling)}`);
  if (!Number.isInteger(m.embeddingSize) || m.embeddingSize! <= 0) fail('embeddingSize must be a positive integer');
  if (!m.files || typeof m.files !== 'object' || !m.files[m.modelUrl]) {
    fail(`files must list sha256 and bytes for ${m.modelUrl} and every weight shard`);
  }
  for (const [name, f] of Object.entries(m.files)) {
    if (!f || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256) || !Number.isInteger(f.bytes)) {
      fail(`files['${name}'] must be { sha256: <64 hex>, bytes: <integer> }`);
    }
  }
  return m as BackboneManifest;
}
