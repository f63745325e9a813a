// Checks on imported head files before tfjs allocates anything from them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEdgetuneError } from '../../errors.js';
import { checkFinite, checkHeadJson, checkLabels } from './import-checks.js';

/** A head's model.json as edgetune writes it: a dense layer over 40 features to 3 classes. */
const head = (over: { inputShape?: unknown; units?: unknown; weights?: unknown[] } = {}) => ({
  modelTopology: { model_config: { config: { layers: [{ config: { batch_input_shape: over.inputShape ?? [null, 40], units: over.units ?? 3 } }] } } },
  weightsManifest: [{ weights: over.weights ?? [{ name: 'k', shape: [40, 3], dtype: 'float32' }, { name: 'b', shape: [3] }] }],
});
const refused = (json: unknown, bytes: number, code: string, message: string) =>
  assert.throws(() => checkHeadJson(json as never, bytes, 40), (e) => isEdgetuneError(e) && e.code === code && e.message === message, message);

describe('checkHeadJson', () => {
  it('accepts a head whose weights add up to weights.bin', () => {
    checkHeadJson(head(), 123 * 4, 40);
    checkHeadJson({ ...head(), modelTopology: { inputShape: [40], input_shape: [null, 40] } }, 123 * 4, 40);
  });

  it('refuses a missing manifest, another input width, layer sizes out of bounds, odd weights and a size mismatch', () => {
    refused({ modelTopology: {} }, 0, 'MODEL_LOAD_FAILED', 'model.json has no weightsManifest');
    refused(null, 0, 'MODEL_LOAD_FAILED', 'model.json has no weightsManifest');
    refused(head({ inputShape: [null, 41] }), 492, 'MODEL_INCOMPATIBLE', "The head's input is 41 wide; the backbone's embeddings are 40");
    refused({ ...head(), modelTopology: { batchInputShape: [null, 7] } }, 492, 'MODEL_INCOMPATIBLE', "The head's input is 7 wide; the backbone's embeddings are 40");
    refused({ ...head(), modelTopology: { input_shape: [null, 8] } }, 492, 'MODEL_INCOMPATIBLE', "The head's input is 8 wide; the backbone's embeddings are 40");
    for (const units of [0, 16385, 2.5, '3']) refused(head({ units }), 492, 'MODEL_INCOMPATIBLE', `A head layer has ${units} units (at most 16384)`);
    checkHeadJson(head({ units: 16384 }), 492, 40);
    for (const shape of [[-1, 3], [40, 1.5], 'x', [40 * 16384 + 1]]) refused(head({ weights: [{ shape }] }), 492, 'MODEL_INCOMPATIBLE', 'model.json lists a weight with an invalid shape');
    refused(head({ weights: [{ shape: [40, 3], dtype: 'int32' }] }), 480, 'MODEL_INCOMPATIBLE', 'model.json lists a int32 weight; edgetune heads are float32');
    refused(head(), 488, 'MODEL_INCOMPATIBLE', 'model.json lists 492 bytes of weights, weights.bin holds 488');
  });
});

describe('checkFinite', () => {
  it('refuses NaN and infinities, naming the file and index; ignores a trailing partial float', () => {
    checkFinite(new Uint8Array(Float32Array.of(1, -2, 3e38).buffer), 'w.bin');
    checkFinite(new Uint8Array([0, 0, 128, 63, 255, 255]), 'w.bin');
    for (const [v, shown] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity']] as const) {
      assert.throws(() => checkFinite(new Uint8Array(Float32Array.of(0, 1, v).buffer), 'tail.bin'), (e) => isEdgetuneError(e, 'MODEL_INTEGRITY') && e.message === `tail.bin holds a value that is not a finite number (${shown}) at index 2: the model is damaged or diverged`);
    }
  });
});

describe('checkLabels', () => {
  it('returns valid distinct labels; refuses invalid ones, surrounding spaces and duplicates by position', () => {
    assert.deepEqual(checkLabels(['cat', 'dog']), ['cat', 'dog']);
    assert.throws(() => checkLabels(['cat', 7]), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && e.message.startsWith('edgetune.json: label 1 is invalid: '));
    assert.throws(() => checkLabels(['cat', 'dog ']), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && e.message === 'edgetune.json: label 1 has surrounding spaces');
    assert.throws(() => checkLabels(['cat', 'dog', 'cat']), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && e.message === "edgetune.json: label 'cat' appears twice");
  });
});
