// Loading a backbone from its manifest, on the tiny generated backbones served
// from memory: what a manifest URL resolves to, the manifest's hash as the
// backbone's identity, and each way a crafted or broken set of files is refused.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { isEdgetuneError } from '../../errors.js';
import { selectBackend } from '../backend.js';
import { sha256Hex } from '../util/hash.js';
import { memoryFetcher, servedTiny as served, tinyBackboneFiles, TINY_BACKBONE_URL, TINY_EMBEDDING, type TinyFormat } from '../../testing/tiny-backbone.js';
import { loadBackbone, packageModelBaseUrl, resolveManifestUrl, toArrayBuffer } from './backbone.js';

const enc = new TextEncoder();

const refused = async (fetcher: ReturnType<typeof memoryFetcher>, code: string, pattern: RegExp) =>
  assert.rejects(loadBackbone(TINY_BACKBONE_URL, { fetcher }), (e) => isEdgetuneError(e) && e.code === code && pattern.test(e.message), `${code} ${pattern}`);

describe('resolveManifestUrl', () => {
  it('maps bundled ids into the models folder, refuses unknown ids, and resolves paths and URLs', () => {
    assert.equal(resolveManifestUrl('mobilenet_v2').href, new URL('mobilenet_v2/manifest.json', packageModelBaseUrl()).href);
    assert.equal(resolveManifestUrl('mobilenet_v2_140', 'https://cdn.example/m').href, 'https://cdn.example/m/mobilenet_v2_140/manifest.json');
    assert.equal(resolveManifestUrl('mobilenet_v2', 'https://cdn.example/m/').href, 'https://cdn.example/m/mobilenet_v2/manifest.json');
    assert.throws(() => resolveManifestUrl('resnet50'), (e) => isEdgetuneError(e, 'UNKNOWN_BACKBONE') && /Unknown backbone 'resnet50'\. Bundled backbones are: mobilenet_v2_140, mobilenet_v2; or pass the URL or path of a manifest\.json\.$/.test(e.message));
    // A bare name is an id; anything with a slash, or a .json name, is a path.
    assert.equal(resolveManifestUrl('models/mobilenet').href, new URL(`file://${process.cwd()}/models/mobilenet`).href);
    assert.equal(resolveManifestUrl('./mobilenet').href, new URL(`file://${process.cwd()}/mobilenet`).href);
    assert.equal(resolveManifestUrl('my/manifest.json').href, new URL(`file://${process.cwd()}/my/manifest.json`).href);
    assert.equal(resolveManifestUrl('manifest.json').href, new URL(`file://${process.cwd()}/manifest.json`).href);
    assert.equal(resolveManifestUrl(TINY_BACKBONE_URL).href, TINY_BACKBONE_URL);
    assert.ok(packageModelBaseUrl().href.endsWith('/models/'));
  });

  it('a bundled backbone that cannot be found says where it looked and what to pass', async () => {
    await assert.rejects(loadBackbone('mobilenet_v2', { modelBaseUrl: '/nonexistent/models' }), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && /\/nonexistent\/models\/mobilenet_v2\/manifest\.json.*serve it with the app, or pass modelBaseUrl \(the folder holding mobilenet_v2\/manifest\.json\)/.test(e.message));
  });

  it('toArrayBuffer copies exactly the view', () => {
    const view = new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4);
    assert.deepEqual(new Uint8Array(toArrayBuffer(view)), new Uint8Array([1, 2, 3]));
  });
});

for (const format of ['graph', 'layers'] as TinyFormat[]) {
  describe(`loadBackbone on the tiny ${format} backbone`, () => {
    before(async () => {
      await selectBackend({ backends: ['wasm'] });
    });

    it('loads it: the manifest, its sha256 as identity, embeddings and prefixes of the declared size', async () => {
      const files = await tinyBackboneFiles(format);
      const bb = await loadBackbone(TINY_BACKBONE_URL, { fetcher: memoryFetcher(files) });
      try {
        assert.equal(bb.manifest.id, `tiny_mobilenet_${format}`);
        assert.equal(bb.manifestHash, await sha256Hex(files.get('manifest.json')!));
        assert.equal(bb.manifestUrl, TINY_BACKBONE_URL);
        assert.equal(bb.artifacts.weightData.length, files.get('weights.bin')!.length);
        const cut = format === 'graph' ? 'expanded_conv_3/project' : 'block_3_project_BN';
        tf.tidy(() => {
          const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
          const e = bb.embed(x);
          assert.deepEqual(e.shape, [2, TINY_EMBEDDING]);
          const both = bb.embedWithPrefix(x, cut);
          assert.deepEqual(both.prefix.shape, [2, 4, 4, 24]);
          assert.deepEqual(bb.prefix(x, cut).shape, [2, 4, 4, 24]);
          assert.ok(tf.max(tf.abs(tf.sub(both.embedding, e))).dataSync()[0]! < 1e-6);
          assert.ok(tf.max(tf.abs(tf.sub(both.prefix, bb.prefix(x, cut)))).dataSync()[0]! < 1e-6);
        });
      } finally {
        bb.dispose();
      }
    });

    it('refuses files the manifest does not list or sizes wrongly, and bytes that differ', async () => {
      await refused(await served(format, { manifest: (m) => delete m.files['weights.bin'] }), 'MODEL_INTEGRITY', /weights\.bin is not listed in the manifest's files/);
      await refused(await served(format, { manifest: (m) => (m.files['weights.bin'].bytes = -1) }), 'MODEL_LOAD_FAILED', /declares an invalid size for .*weights\.bin/);
      // An empty file is a size (0): the bytes then differ from it.
      await refused(await served(format, { manifest: (m) => (m.files['weights.bin'].bytes = 0) }), 'MODEL_INTEGRITY', /weights\.bin is \d+ bytes, the manifest declares 0|over the 0 bytes/);
      await refused(await served(format, { manifest: (m) => (m.files['weights.bin'].bytes += 4) }), 'MODEL_INTEGRITY', /weights\.bin is \d+ bytes, the manifest declares \d+/);
      const files = await tinyBackboneFiles(format);
      const flipped = files.get('weights.bin')!.slice();
      flipped[100] = flipped[100]! ^ 0x40;
      await refused(await served(format, { files: { 'weights.bin': flipped } }), 'MODEL_INTEGRITY', /weights\.bin has sha256 [0-9a-f]{64}, the manifest declares [0-9a-f]{64}/);
    });

    it('refuses a model.json that is not JSON or not a tfjs model, and a manifest that does not fit its model', async () => {
      await refused(await served(format, { files: { 'model.json': enc.encode('{"modelTopology":') }, relist: true }), 'MODEL_LOAD_FAILED', /model\.json is not valid JSON/);
      await refused(await served(format, { files: { 'model.json': enc.encode('null') }, relist: true }), 'MODEL_LOAD_FAILED', /model\.json is not a tfjs model\.json/);
      await refused(await served(format, { files: { 'model.json': enc.encode('{"modelTopology":{}}') }, relist: true }), 'MODEL_LOAD_FAILED', /model\.json is not a tfjs model\.json \(no modelTopology\/weightsManifest\)/);
      await refused(await served(format, { manifest: (m) => (m.embeddingSize = 41) }), 'MODEL_INCOMPATIBLE', new RegExp(`outputs ${TINY_EMBEDDING} features, its manifest declares embeddingSize 41`));
      await refused(await served(format, { manifest: (m) => (m.inputSize = [31, 33]) }), 'MODEL_INCOMPATIBLE', /failed on a 31x33 input/);
      await refused(await served(format, { manifest: (m) => (m.featureNode = 'nowhere') }), format === 'graph' ? 'MODEL_INCOMPATIBLE' : 'MODEL_LOAD_FAILED', format === 'graph' ? /failed on a 32x32 input/ : /Cannot build backbone 'tiny_mobilenet_layers'/);
    });
  });
}
