import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseManifest } from './manifest.js';
import { isEdgetuneError } from '../../errors.js';

const bundled = readFileSync(new URL('../../../models/mobilenet_v2_140/manifest.json', import.meta.url), 'utf8');

describe('parseManifest', () => {
  it('accepts the bundled default manifest', () => {
    const m = parseManifest(bundled);
    assert.equal(m.id, 'mobilenet_v2_140');
    assert.equal(m.embeddingSize, 1792);
  });

  const good = JSON.parse(bundled);
  const sha = 'ab'.repeat(32);
  const withFile = (name: string, f: unknown) => ({ files: { ...good.files, [name]: f } });
  for (const [what, patch, pattern] of [
    ['a wrong format', { format: 'onnx' }, /format must be 'graph' or 'layers', got "onnx"/],
    ['a bad input size', { inputSize: [224] }, /inputSize must be \[height, width\] with integers in 8\.\.1024, got \[224\]/],
    ['an input size below 8', { inputSize: [7, 224] }, /inputSize/],
    ['an input size above 1024', { inputSize: [224, 1025] }, /inputSize/],
    ['a fractional input size', { inputSize: [224, 223.5] }, /inputSize/],
    ['an input size that is not a list', { inputSize: '224x224' }, /inputSize/],
    ['a non-positive std', { normalization: { mean: [0, 0, 0], std: [0, 1, 1] } }, /normalization must be/],
    ['a mean of two channels', { normalization: { mean: [0, 0], std: [1, 1, 1] } }, /normalization/],
    ['a mean with a string', { normalization: { mean: [0, '0', 0], std: [1, 1, 1] } }, /normalization/],
    ['a std that is not a list', { normalization: { mean: [0, 0, 0], std: 1 } }, /normalization/],
    ['no normalization', { normalization: null }, /normalization/],
    ['a newer manifest version', { manifestVersion: 2 }, /manifestVersion must be 1, got 2/],
    ['an id with a slash', { id: '../evil' }, /id must match \[A-Za-z0-9_.-\]\{1,100\}, got "..\/evil"/],
    ['an id with a trailing space', { id: 'mobilenet ' }, /id must match/],
    ['an id of 101 characters', { id: 'a'.repeat(101) }, /id must match/],
    ['a numeric id', { id: 7 }, /id must match/],
    ['a model URL that is not a string', { modelUrl: 5 }, /modelUrl must be a string/],
    ['an empty feature node', { featureNode: '' }, /featureNode must name/],
    ['a numeric feature node', { featureNode: 3 }, /featureNode must name/],
    ['an unknown pooling', { pooling: 'max' }, /pooling must be 'none' or 'avg', got "max"/],
    ['a zero embedding size', { embeddingSize: 0 }, /embeddingSize must be a positive integer/],
    ['a fractional embedding size', { embeddingSize: 12.5 }, /embeddingSize/],
    ['no file hashes', { files: {} }, /files must list sha256 and bytes for model\.json/],
    ['files that are not an object', { files: 'model.json' }, /files must list/],
    ['no files at all', { files: null }, /files must list/],
    ['a malformed sha256', { files: { 'model.json': { sha256: 'xyz', bytes: 1 } } }, /files\['model\.json'\] must be/],
    ['a sha256 with a prefix', withFile('model.json', { sha256: `0x${sha}`, bytes: 1 }), /files\['model\.json'\]/],
    ['a sha256 with a suffix', withFile('model.json', { sha256: `${sha}00`, bytes: 1 }), /files\['model\.json'\]/],
    ['a sha256 in capitals', withFile('model.json', { sha256: sha.toUpperCase(), bytes: 1 }), /files\['model\.json'\]/],
    ['a numeric sha256', withFile('model.json', { sha256: 12, bytes: 1 }), /files\['model\.json'\]/],
    ['a fractional size', withFile('model.json', { sha256: sha, bytes: 1.5 }), /files\['model\.json'\]/],
    ['an empty file entry', withFile('group1-shard1of2.bin', null), /files\['group1-shard1of2\.bin'\]/],
  ] as const) {
    it(`rejects a manifest with ${what} with MODEL_LOAD_FAILED`, () => {
      const text = JSON.stringify({ ...good, ...patch });
      assert.throws(() => parseManifest(text), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && e.message.startsWith('Invalid backbone manifest: ') && pattern.test(e.message));
    });
  }

  it('accepts the edges of each range: inputs of 8 and 1024 pixels, an id of 100 characters, a one-element embedding', () => {
    const m = parseManifest(JSON.stringify({ ...good, inputSize: [8, 1024], id: 'a'.repeat(100), embeddingSize: 1, normalization: { mean: [-1, 0, 1e-3], std: [1e-6, 1, 300] } }));
    assert.deepEqual([m.inputSize, m.id.length, m.embeddingSize], [[8, 1024], 100, 1]);
  });

  for (const [what, text] of [
    ['null', 'null'],
    ['a number', '42'],
    ['a string', '"manifest"'],
  ] as const) {
    it(`rejects ${what} as a manifest: expected a JSON object`, () => {
      assert.throws(() => parseManifest(text), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && /expected a JSON object/.test(e.message));
    });
  }

  it('rejects text that is not JSON', () => {
    assert.throws(() => parseManifest('{oops'), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && /not JSON/.test(e.message));
  });
});
