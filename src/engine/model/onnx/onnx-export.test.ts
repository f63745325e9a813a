// The ONNX export, checked by a runtime nobody here wrote: onnxruntime-node runs
// model.onnx on the same pixels and must give the engine's probabilities within
// 1e-4, for both bundled backbones, with a head and with a fine-tuned tail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createEngine, type Engine } from '../../engine.js';
import { isEdgetuneError } from '../../../errors.js';
import { syntheticImage, syntheticSet, SYNTHETIC_CLASSES } from '../../../testing/synthetic.js';
import type { RawImage } from '../../../types.js';
import { decodeImageFile } from '../../../node/decode.js';
import type { Backbone } from '../backbone.js';
import type { Tail } from '../tail.js';
import { backboneNetwork } from '../network.js';
import { onnx, onnxAgreement, runOnnx } from '../../../testing/onnx-runtime.js';

const DATA = resolve(process.env.EDGETUNE_DATA ?? fileURLToPath(new URL('../../../../../shared/datasets', import.meta.url)));
const STAMPS_TEST = join(DATA, 'stamps-dev', 'test');

/** A few real photos, decoded as edgetune decodes them (any size) when ../shared is present. */
async function realImages(n: number): Promise<RawImage[]> {
  if (!existsSync(STAMPS_TEST)) {
    console.log(`# no real images at ${STAMPS_TEST}: the agreement is checked on generated images only`);
    return [];
  }
  const files = readdirSync(STAMPS_TEST).flatMap((c) => readdirSync(join(STAMPS_TEST, c)).slice(0, 1).map((f) => join(STAMPS_TEST, c, f)));
  return Promise.all(files.slice(0, n).map((f) => decodeImageFile(f)));
}

for (const backbone of ['mobilenet_v2_140', 'mobilenet_v2'] as const) {
  describe(`ONNX export on ${backbone}, run by onnxruntime-node`, () => {
    let engine: Engine;
    /** Pixels at the backbone's size: the model's resize is the identity, so the agreement is the network's. */
    let same: RawImage[];
    /** Other sizes and aspect ratios: the model resizes inside its graph. */
    let resized: RawImage[];
    before(async () => {
      engine = await createEngine({ backends: ['wasm', 'cpu'], backbone });
      for (const s of syntheticSet(5, 3, 3)) await engine.addExamples(s.label, [s.image]);
      same = SYNTHETIC_CLASSES.slice(0, 3).map((c, i) => syntheticImage(c, 700 + i, 224));
      const sizes: [number, number][] = [[300, 180], [97, 203], [448, 336], [64, 64]];
      resized = [...sizes.map(([w, h], i) => syntheticImage(SYNTHETIC_CLASSES[i % 3]!, 800 + i, w, h)), ...(await realImages(4))];
    });
    after(() => engine.dispose());

    it('head: the same probabilities within 1e-4, labels and preprocessing in the metadata', async () => {
      await engine.fineTune({ epochs: 4, seed: 1, validationSplit: 0.34, augment: 0 });
      const { 'model.onnx': model, 'labels.json': labelsJson, ...rest } = await engine.export({ format: 'onnx' });
      assert.deepEqual(Object.keys(rest), ['README.md']);
      assert.deepEqual(JSON.parse(new TextDecoder().decode(labelsJson)), ['disc', 'stripes', 'checker']);
      const diff = await onnxAgreement(engine, model!, same);
      const diffResized = await onnxAgreement(engine, model!, resized);
      console.log(`# ${backbone} head: max abs difference ${diff.toExponential(2)} at 224x224, ${diffResized.toExponential(2)} over ${resized.length} other sizes`);
      assert.ok(diff <= 1e-4, `max abs difference ${diff}`);
      assert.ok(diffResized <= 1e-3, `max abs difference ${diffResized} on resized images`);
      const meta = Object.fromEntries(onnx.ModelProto.decode(model!).metadataProps.map((p) => [p.key, p.value]));
      assert.deepEqual(JSON.parse(meta.labels!), ['disc', 'stripes', 'checker']);
      assert.deepEqual(JSON.parse(meta.preprocessing!).shape, [null, null, null, 3]);
      assert.equal(meta.backbone, backbone);
    });

    it('partial: the fine-tuned tail is in the file, and the probabilities agree within 1e-4', async () => {
      await engine.fineTune({ strategy: 'partial', unfreezeBlocks: 1, partialEpochs: 2, epochs: 4, seed: 1, validationSplit: 0.34, refit: false, augment: 0 });
      const tuned = await engine.export({ format: 'onnx' });
      const diff = await onnxAgreement(engine, tuned['model.onnx']!, same);
      const diffResized = await onnxAgreement(engine, tuned['model.onnx']!, resized);
      console.log(`# ${backbone} partial: max abs difference ${diff.toExponential(2)} at 224x224, ${diffResized.toExponential(2)} at other sizes`);
      assert.ok(diff <= 1e-4, `max abs difference ${diff}`);
      assert.ok(diffResized <= 1e-3, `max abs difference ${diffResized} on resized images`);
      // The file holds the trained tail: its biases (same layout in both formats) equal the
      // engine's, and some differ from the backbone's own.
      const tail = (engine as unknown as { model: { tail: Tail | null } }).model.tail;
      assert.ok(tail, 'the engine holds a fine-tuned tail');
      const stored = new Map(onnx.ModelProto.decode(tuned['model.onnx']!).graph!.initializer!.map((t) => [t.name!, new Float32Array(Uint8Array.from(t.rawData!).buffer)]));
      const original = backboneNetwork((engine as unknown as { backbone: Backbone }).backbone).weights;
      let moved = 0;
      for (const { name, tensor } of tail.weights().filter((w) => w.tensor.rank === 1)) {
        assert.deepEqual(Array.from(stored.get(name)!), Array.from(tensor.dataSync()), name);
        if (original.get(name)!.data.some((v, i) => v !== stored.get(name)![i])) moved++;
      }
      assert.ok(moved > 0, 'the tail moved away from the backbone');
    });

    it('int8 (QDQ, calibrated on the examples): at most 30% of the float file, the same confident answers, probabilities close', async () => {
      const float = (await engine.export({ format: 'onnx' }))['model.onnx']!;
      const int8 = (await engine.export({ format: 'onnx', int8: true, calibrationImages: 12 }))['model.onnx']!;
      const ops = new Set(onnx.ModelProto.decode(int8).graph!.node!.map((n) => n.opType));
      assert.ok(ops.has('QuantizeLinear') && ops.has('DequantizeLinear'));
      assert.ok(int8.length <= 0.3 * float.length, `int8 ${int8.length} bytes, float ${float.length}`);
      const images = [...same, ...resized];
      const [a, b] = [await runOnnx(float, images), await runOnnx(int8, images)];
      // A brief head on generated images leaves some answers close: the top-1 must agree where
      // the float model is sure (margin >= 0.3); bench/int8.mjs measures accuracy on real photos.
      let [max, sum] = [0, 0];
      a.forEach((p, i) => {
        const sorted = [...p].sort((x, y) => y - x);
        if (sorted[0]! - sorted[1]! >= 0.3) assert.equal(argmax(b[i]!), argmax(p), `image ${i}: the same top-1`);
        p.forEach((v, j) => {
          max = Math.max(max, Math.abs(v - b[i]![j]!));
          sum += Math.abs(v - b[i]![j]!);
        });
      });
      const mean = sum / (a.length * a[0]!.length);
      console.log(`# ${backbone} int8: ${(int8.length / float.length * 100).toFixed(1)}% of the float size, probability difference mean ${mean.toFixed(4)}, max ${max.toFixed(4)} over ${images.length} images`);
      // Broken int8 (a wrong scale, a dropped bias) moves most answers; rounding moves a few borderline ones.
      assert.ok(mean <= 0.05, `mean abs difference ${mean}`);
    });
  });
}

const argmax = (p: Float32Array) => p.indexOf(Math.max(...p));

/** Debian's python3-onnx, when installed: the ONNX project's own checker, with shape inference. */
function onnxChecker(): string | null {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'no /usr/bin/python3 with onnx (apt-get install python3-onnx)';
}

describe('ONNX export: the onnx checker', () => {
  it('passes onnx.checker.check_model(full_check=True), with the image input\'s dynamic size', async (t) => {
    const missing = onnxChecker();
    if (missing) return t.skip(missing);
    const engine = await createEngine({ backends: ['wasm', 'cpu'], backbone: 'mobilenet_v2' });
    const dir = mkdtempSync(join(tmpdir(), 'edgetune-checker-'));
    try {
      for (const s of syntheticSet(3, 2, 5)) await engine.addExamples(s.label, [s.image]);
      await engine.fineTune({ epochs: 2, seed: 1, validationSplit: 0 });
      writeFileSync(join(dir, 'model.onnx'), (await engine.export({ format: 'onnx' }))['model.onnx']!);
      writeFileSync(join(dir, 'int8.onnx'), (await engine.export({ format: 'onnx', int8: true, calibrationImages: 4 }))['model.onnx']!);
      const script = 'import onnx,sys; m=onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); i=m.graph.input[0]; print(i.name, i.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])';
      for (const file of ['model.onnx', 'int8.onnx']) {
        const r = spawnSync('/usr/bin/python3', ['-c', script, join(dir, file)], { encoding: 'utf8' });
        assert.equal(r.status, 0, `${file}: ${r.stderr}`);
        assert.equal(r.stdout.trim(), `image ${onnx.TensorProto.DataType.UINT8} ['n', 'height', 'width', 3]`);
      }
    } finally {
      engine.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ONNX export: bad requests', () => {
  it('rejects an unknown format with INVALID_ARGUMENT and a model with no head with NOT_TRAINED', async () => {
    const engine = await createEngine({ backends: ['wasm', 'cpu'], backbone: 'mobilenet_v2' });
    try {
      await assert.rejects(engine.export({ format: 'onnx' }), (e) => isEdgetuneError(e, 'NOT_TRAINED'));
      for (const s of syntheticSet(2, 2, 4)) await engine.addExamples(s.label, [s.image]);
      // Prototypes answer predict, but there is no trained head to export.
      await assert.rejects(engine.export({ format: 'onnx' }), (e) => isEdgetuneError(e, 'NOT_TRAINED'));
      await engine.fineTune({ epochs: 1, seed: 1, validationSplit: 0 });
      await assert.rejects(engine.export({ format: 'tflite2' as never }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT'));
      await assert.rejects(engine.export({ format: 'edgetune', int8: true }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT') && /onnx' and 'tflite/.test((e as Error).message));
      await assert.rejects(engine.export({ format: 'onnx', int8: true, calibrationImages: 0 }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT') && /calibrationImages/.test((e as Error).message));
    } finally {
      engine.dispose();
    }
  });
});
