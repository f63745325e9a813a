#!/usr/bin/env node
// Converts the two MobileNetV2 models that the nsfwjs npm package ships as JS
// modules (model.json object + base64 weight shards) into standard tfjs
// artifacts under models/<id>/, pruned to the feature output, and checks the
// result against the committed manifest (sha256 of every file).
//
//   node scripts/convert-backbones.mjs            convert + verify (install step)
//   node scripts/convert-backbones.mjs --update   convert + rewrite the manifests' hashes
//
// Idempotent: a model whose files already match its manifest is left alone.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const update = process.argv.includes('--update');
const SHARD_BYTES = 4 * 1024 * 1024; // the tfjs converter's default shard size

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

export function nsfwjsDir() {
  // nsfwjs' exports map hides package.json and dist/models: resolve its entry, then walk up.
  const entry = require.resolve('nsfwjs', { paths: [root] });
  const pkgPath = join(entry.slice(0, entry.lastIndexOf('/dist/')), 'package.json');
  return { dir: dirname(pkgPath), version: JSON.parse(readFileSync(pkgPath, 'utf8')).version };
}

/** Loads model.min.js + its shards: returns the model.json object and one weight buffer. */
export function loadBundled(dir) {
  const modelJson = require(join(dir, 'model.min.js'));
  const shards = modelJson.weightsManifest.flatMap((g) => g.paths);
  const buf = Buffer.concat(shards.map((p) => Buffer.from(require(join(dir, `${p}.min.js`)), 'base64')));
  return { modelJson, buf };
}

const BYTES = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2, bool: 1 };
function weightBytes(w) {
  const n = w.shape.reduce((a, b) => a * b, 1);
  return n * BYTES[w.quantization ? w.quantization.dtype : w.dtype];
}

/** Keeps only the weights whose names pass `keep`, slicing them out of the flat buffer. */
function pruneWeights(modelJson, buf, keep) {
  const specs = modelJson.weightsManifest.flatMap((g) => g.weights);
  const kept = [];
  const parts = [];
  let offset = 0;
  for (const w of specs) {
    const n = weightBytes(w);
    if (keep(w.name)) {
      kept.push(w);
      parts.push(buf.subarray(offset, offset + n));
    }
    offset += n;
  }
  if (offset !== buf.length) throw new Error(`weight specs cover ${offset} bytes, shards hold ${buf.length}`);
  return { specs: kept, buf: Buffer.concat(parts) };
}

/** Names of `start` and everything it depends on, following `inputsOf` through `byName`. */
function ancestors(start, byName, what, inputsOf) {
  const needed = new Set();
  const stack = [start];
  while (stack.length) {
    const name = stack.pop();
    if (needed.has(name)) continue;
    const item = byName.get(name);
    if (!item) throw new Error(`model has no ${what} ${name}`);
    needed.add(name);
    stack.push(...inputsOf(item));
  }
  return needed;
}

/** Graph model: keep the nodes the feature node depends on, make it the only output. */
function pruneGraph(modelJson, buf, featureNode) {
  const nodes = new Map(modelJson.modelTopology.node.map((n) => [n.name, n]));
  // Inputs may be 'name:1' (an output index) or '^name' (a control dependency).
  const needed = ancestors(featureNode, nodes, 'node', (n) => (n.input ?? []).map((i) => i.replace(/^\^/, '').split(':')[0]));
  const topology = {
    ...modelJson.modelTopology,
    node: modelJson.modelTopology.node.filter((n) => needed.has(n.name)),
  };
  const { specs, buf: kept } = pruneWeights(modelJson, buf, (name) => needed.has(name));
  const signature = {
    inputs: modelJson.signature?.inputs ?? modelJson.userDefinedMetadata?.signature?.inputs,
    outputs: { [`${featureNode}:0`]: { name: `${featureNode}:0`, dtype: 'DT_FLOAT' } },
  };
  return {
    modelJson: {
      format: 'graph-model',
      generatedBy: modelJson.generatedBy,
      convertedBy: `${modelJson.convertedBy}; pruned to ${featureNode} by edgetune`,
      signature,
      modelTopology: topology,
    },
    specs,
    buf: kept,
  };
}

/** Layers model: keep the layers up to the feature layer, make it the output. */
function pruneLayers(modelJson, buf, featureLayer) {
  const cfg = modelJson.modelTopology.model_config.config;
  const byName = new Map(cfg.layers.map((l) => [l.name, l]));
  const needed = ancestors(featureLayer, byName, 'layer', (l) => l.inbound_nodes.flatMap((node) => node.map(([inbound]) => inbound)));
  const { model_config, keras_version, backend } = modelJson.modelTopology;
  const topology = {
    keras_version,
    backend,
    model_config: {
      ...model_config,
      config: {
        ...cfg,
        layers: cfg.layers.filter((l) => needed.has(l.name)),
        output_layers: [[featureLayer, 0, 0]],
      },
    },
  };
  const { specs, buf: kept } = pruneWeights(modelJson, buf, (name) => needed.has(name.split('/')[0]));
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy: `keras v${keras_version}`,
      convertedBy: 'nsfwjs bundle; pruned to ' + featureLayer + ' by edgetune',
      modelTopology: topology,
    },
    specs,
    buf: kept,
  };
}

/** Writes model.json + 4 MB shards; returns { file: { sha256, bytes } } for every file written. */
function writeArtifacts(outDir, { modelJson, specs, buf }) {
  mkdirSync(outDir, { recursive: true });
  const count = Math.max(1, Math.ceil(buf.length / SHARD_BYTES));
  const paths = [];
  const files = {};
  for (let i = 0; i < count; i++) {
    const name = `group1-shard${i + 1}of${count}.bin`;
    const data = buf.subarray(i * SHARD_BYTES, Math.min(buf.length, (i + 1) * SHARD_BYTES));
    writeFileSync(join(outDir, name), data);
    paths.push(name);
    files[name] = { sha256: sha256(data), bytes: data.length };
  }
  const json = Buffer.from(JSON.stringify({ ...modelJson, weightsManifest: [{ paths, weights: specs }] }));
  writeFileSync(join(outDir, 'model.json'), json);
  files['model.json'] = { sha256: sha256(json), bytes: json.length };
  return files;
}

function filesMatch(outDir, files) {
  return Object.entries(files).every(([name, { sha256: want }]) => {
    const path = join(outDir, name);
    return existsSync(path) && sha256(readFileSync(path)) === want;
  });
}

function convert(id) {
  const outDir = join(root, 'models', id);
  const manifestPath = join(outDir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  if (!update && filesMatch(outDir, manifest.files)) {
    console.log(`[edgetune] models/${id}: up to date`);
    return;
  }
  const { dir, version } = nsfwjsDir();
  if (version !== manifest.source.version) {
    throw new Error(`models/${id}: manifest expects nsfwjs ${manifest.source.version}, found ${version}`);
  }
  const bundled = loadBundled(join(dir, manifest.source.path));
  const pruned =
    manifest.format === 'graph'
      ? pruneGraph(bundled.modelJson, bundled.buf, manifest.featureNode)
      : pruneLayers(bundled.modelJson, bundled.buf, manifest.featureNode);
  const files = writeArtifacts(outDir, pruned);
  if (update) {
    manifest.files = files;
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
    console.log(`[edgetune] models/${id}: manifest hashes updated`);
    return;
  }
  for (const [name, { sha256: want }] of Object.entries(manifest.files)) {
    if (files[name]?.sha256 !== want) {
      throw new Error(`models/${id}/${name}: sha256 ${files[name]?.sha256} does not match the manifest (${want})`);
    }
  }
  console.log(`[edgetune] models/${id}: converted from nsfwjs ${version}, ${Object.keys(files).length} files verified`);
}

// Converts when run (npm's prepare step, npm test); tests import the helpers above.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    for (const id of ['mobilenet_v2_140', 'mobilenet_v2']) convert(id);
  } catch (err) {
    console.error(`[edgetune] backbone conversion failed: ${err.message}`);
    process.exit(1);
  }
}
