// engine.export()'s options, checked before any work: the format, and the options
// that only some formats take.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEdgetuneError } from '../../errors.js';
import { checkExportOptions, EXPORT_FORMATS } from './export-formats.js';

const refused = (opts: object, message: string) =>
  assert.throws(() => checkExportOptions(opts as never), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT') && e.message === message, message);

describe('checkExportOptions', () => {
  it('defaults to the edgetune folder and accepts each format with what it takes', () => {
    assert.deepEqual(EXPORT_FORMATS, ['edgetune', 'onnx', 'tflite']);
    assert.equal(checkExportOptions({}), 'edgetune');
    assert.equal(checkExportOptions({ merged: true }), 'edgetune');
    assert.equal(checkExportOptions({ format: 'onnx', int8: true, calibrationImages: 1 }), 'onnx');
    assert.equal(checkExportOptions({ format: 'tflite', int8: true, calibrationImages: 10_000 }), 'tflite');
  });

  it('names the valid formats and the options that do not apply', () => {
    refused({ format: 'tflite2' }, "Unknown export format 'tflite2': one of 'edgetune', 'onnx', 'tflite'");
    refused({ format: 'onnx', merged: true }, "merged applies to the 'edgetune' format only, not 'onnx'");
    refused({ int8: true }, "int8 applies to the 'onnx' and 'tflite' formats, not 'edgetune'");
    for (const n of [0, 10_001, 1.5, Number.NaN]) refused({ format: 'onnx', calibrationImages: n }, `calibrationImages must be an integer from 1 to 10000, got ${n}`);
  });
});
