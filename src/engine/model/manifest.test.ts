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

  for (const [what, patch, pattern] of [
    ['a wrong format', { format: 'onnx' }, /format must be/],
    ['a bad input size', { inputSize: [224] }, /inputSize/],
    ['a non-positive std', { normalization: { mean: [0, 0, 0], std: [0, 1, 1] } }, /normalization/],
    ['a newer manifest version', { manifestVersion: 2 }, /manifestVersion/],
    ['no file hashes', { files: {} }, /files must list/],
    ['a malformed sha256', { files: { 'model.json': { sha256: 'xyz', bytes: 1 } } }, /sha256/],
  ] as const) {
    it(`rejects a manifest with ${what} with MODEL_LOAD_FAILED`, () => {
      const text = JSON.stringify({ ...JSON.parse(bundled), ...patch });
      assert.throws(() => parseManifest(text), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && pattern.test(e.message));
    });
  }

  it('rejects text that is not JSON', () => {
    assert.throws(() => parseManifest('{oops'), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && /not JSON/.test(e.message));
  });
});
