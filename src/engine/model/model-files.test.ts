// Exported model files on the tiny generated backbones: the edgetune directory
// round-trips (head, partial tail, full network; graph and layers backbones),
// the merged tfjs graph answers as the engine does, and every crafted or
// damaged file is refused with a typed error before anything is swapped in.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { isEdgetuneError } from '../../errors.js';
import type { FineTuneOptions, ModelFiles, ModelMetadata, Prediction, RawImage } from '../../types.js';
import { pixelSource } from '../data/examples.js';
import type { Engine } from '../engine.js';
import { sha256Hex } from '../util/hash.js';
import { syntheticImage, type SyntheticClass } from '../../testing/synthetic.js';
import { tinyEngine, TINY_SIZE, type TinyFormat } from '../../testing/tiny-backbone.js';

const CLASSES: SyntheticClass[] = ['disc', 'stripes', 'checker'];
const TRAIN = { epochs: 4, augment: 0, seed: 2, validationSplit: 0.34, batchSize: 8 } as const;
const STRATEGIES: Record<string, FineTuneOptions> = {
  head: TRAIN,
  partial: { ...TRAIN, strategy: 'partial', validationSplit: 0, partial: { unfreezeBlocks: 1, epochs: 2 } },
  full: { ...TRAIN, strategy: 'full', validationSplit: 0, full: { epochs: 1 } },
};
const IMAGES: RawImage[] = CLASSES.map((c, i) => syntheticImage(c, 600 + i, 40, 30));

const dec = new TextDecoder();
const enc = new TextEncoder();
const metaOf = (files: ModelFiles) => JSON.parse(dec.decode(files['edgetune.json'])) as ModelMetadata;

/** `files` with `name` replaced and edgetune.json edited, the recorded hashes brought up to date (a crafted export, not a damaged one). */
async function crafted(files: ModelFiles, edit: { name?: string; bytes?: Uint8Array; meta?: (m: ModelMetadata) => void }): Promise<ModelFiles> {
  const out = { ...files };
  const meta = metaOf(files);
  if (edit.name && edit.bytes) {
    out[edit.name] = edit.bytes;
    meta.files[edit.name] = { sha256: await sha256Hex(edit.bytes), bytes: edit.bytes.length };
  }
  edit.meta?.(meta);
  out['edgetune.json'] = enc.encode(JSON.stringify(meta));
  return out;
}

const close = (a: Prediction[][], b: Prediction[][], tol: number) =>
  a.forEach((row, i) => row.forEach((p, j) => assert.ok(p.label === b[i]![j]!.label && Math.abs(p.probability - b[i]![j]!.probability) <= tol, `${p.label} ${p.probability} vs ${b[i]![j]!.label} ${b[i]![j]!.probability}`)));

for (const format of ['graph', 'layers'] as TinyFormat[]) {
  describe(`Model files on the tiny ${format} backbone`, () => {
    let engine: Engine;
    let other: Engine;
    before(async () => {
      engine = await tinyEngine({ format });
      for (const label of CLASSES) await engine.addExamples(label, await Promise.all(Array.from({ length: 6 }, (_, i) => pixelSource(syntheticImage(label, 40 + i, 40), `${label}${i}`))));
      other = await tinyEngine({ format });
    });
    after(() => {
      engine.dispose();
      other.dispose();
    });

    for (const [strategy, opts] of Object.entries(STRATEGIES)) {
      it(`${strategy}: an export imports into a fresh engine and answers the same; the merged graph too`, async () => {
        await engine.fineTune(opts);
        const want = await engine.predictBatch(IMAGES, { topK: 3 });
        const files = await engine.export();
        const meta = metaOf(files);
        assert.equal(meta.formatVersion, strategy === 'head' ? 1 : 2);
        assert.deepEqual(meta.labels, CLASSES);
        assert.equal(meta.tail?.unfreezeBlocks, { head: undefined, partial: 1, full: 'all' }[strategy]);
        for (const [name, f] of Object.entries(meta.files)) assert.equal(f.sha256, await sha256Hex(files[name]!), name);
        const imported = await other.import(files);
        assert.deepEqual(imported.labels, CLASSES);
        close(await other.predictBatch(IMAGES, { topK: 3 }), want, 1e-5);
        if (format === 'layers') {
          await assert.rejects(engine.export({ merged: true }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT') && /layers model/.test(e.message));
          return;
        }
        // The merged model: backbone (with the trained tail) and head in one graph, on pixels at the backbone's size.
        const merged = await engine.export({ merged: true });
        const m = metaOf(merged).merged!;
        const json = JSON.parse(dec.decode(merged[m.modelUrl]));
        const weightData = merged[new URL(json.weightsManifest[0].paths[0], `x:/${m.modelUrl}`).pathname.slice(1)]!;
        const graph = await loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weightData.slice().buffer }));
        try {
          const pixels = CLASSES.map((c, i) => syntheticImage(c, 650 + i, TINY_SIZE));
          const probs = tf.tidy(() => (graph.execute({ [m.input]: tf.tensor4d(Float32Array.from(pixels.flatMap((p) => [...p.data])), [3, TINY_SIZE, TINY_SIZE, 3]) }, m.output) as tf.Tensor).arraySync() as number[][]);
          const direct = await engine.predictBatch(pixels, { topK: 3 });
          direct.forEach((row, i) => row.forEach((p) => assert.ok(Math.abs(probs[i]![CLASSES.indexOf(p.label as SyntheticClass)]! - p.probability) < 1e-4, `${p.label}: ${probs[i]![CLASSES.indexOf(p.label as SyntheticClass)]} vs ${p.probability}`)));
        } finally {
          graph.dispose();
        }
      });
    }

    it('refuses damaged or crafted files with a typed error, keeping the model in use', async () => {
      await engine.fineTune(STRATEGIES.partial!);
      const files = await engine.export();
      await other.import(files);
      const want = await other.predictBatch(IMAGES);
      const meta = metaOf(files);
      const refused = async (f: ModelFiles, code: string, pattern: RegExp) => {
        await assert.rejects(other.import(f), (e) => isEdgetuneError(e) && e.code === code && pattern.test(e.message), `${code} ${pattern}`);
        assert.deepEqual(await other.predictBatch(IMAGES), want, 'the model in use is unchanged');
      };
      const { 'edgetune.json': _, ...noMeta } = files;
      await refused(noMeta, 'MODEL_LOAD_FAILED', /no edgetune\.json/);
      await refused({ ...files, 'edgetune.json': enc.encode('{nope') }, 'MODEL_LOAD_FAILED', /edgetune\.json is not valid JSON/);
      await refused(await crafted(files, { meta: (m) => ((m as { format: string }).format = 'other') }), 'MODEL_LOAD_FAILED', /format must be 'edgetune-model'/);
      await refused(await crafted(files, { meta: (m) => (m.formatVersion = 3) }), 'MODEL_INCOMPATIBLE', /format version 3 is newer than this edgetune supports \(2\)/);
      await refused(await crafted(files, { meta: (m) => (m.formatVersion = 1.5) }), 'MODEL_INCOMPATIBLE', /version 1\.5/);
      await refused(await crafted(files, { meta: (m) => (m.labels = ['only']) }), 'MODEL_LOAD_FAILED', /at least two class names/);
      await refused(await crafted(files, { meta: (m) => (m.labels = ['a', 'b', 'a']) }), 'MODEL_LOAD_FAILED', /label 'a' appears twice/);
      await refused(await crafted(files, { meta: (m) => (m.labels = ['a', ' b', 'c']) }), 'MODEL_LOAD_FAILED', /label 1 has surrounding spaces/);
      await refused(await crafted(files, { meta: (m) => (m.labels = ['a', '', 'c']) }), 'MODEL_LOAD_FAILED', /label 1 is invalid/);
      await refused(await crafted(files, { meta: (m) => (m.backbone.manifestHash = 'f'.repeat(64)) }), 'MODEL_INCOMPATIBLE', /trained on backbone 'tiny_mobilenet_\w+' \(manifest ffffffffffff\)/);
      await refused(await crafted(files, { meta: (m) => (m.preprocessing.version = 99) }), 'MODEL_INCOMPATIBLE', /preprocessing version 99/);
      // Hashes: a changed byte, a missing file, a file the metadata does not list.
      const flipped = files['tail.bin']!.slice();
      flipped[9] = flipped[9]! ^ 1;
      await refused({ ...files, 'tail.bin': flipped }, 'MODEL_INTEGRITY', /tail\.bin does not match/);
      await refused({ ...files, 'weights.bin': files['weights.bin']!.subarray(4) }, 'MODEL_INTEGRITY', /weights\.bin does not match/);
      const { 'prototypes.bin': __, ...noProtos } = files;
      await refused(noProtos, 'MODEL_LOAD_FAILED', /lack prototypes\.bin/);
      await refused(await crafted(files, { meta: (m) => delete (m.files as Record<string, unknown>)['model.json'] }), 'MODEL_LOAD_FAILED', /lack model\.json/);
      // Consistent hashes over bad contents.
      const nan = new Float32Array(files['weights.bin']!.slice().buffer);
      nan[3] = NaN;
      await refused(await crafted(files, { name: 'weights.bin', bytes: new Uint8Array(nan.buffer) }), 'MODEL_INTEGRITY', /weights\.bin holds a value that is not a finite number \(NaN\) at index 3/);
      await refused(await crafted(files, { name: 'model.json', bytes: enc.encode('[') }), 'MODEL_LOAD_FAILED', /model\.json is not valid JSON/);
      await refused(await crafted(files, { name: 'tail.bin', bytes: files['tail.bin']!.subarray(0, 64) }), 'MODEL_LOAD_FAILED', /tail\.bin is shorter than its weights list/);
      await refused(await crafted(files, { meta: (m) => (m.tail!.unfreezeBlocks = 65) }), 'MODEL_LOAD_FAILED', /unfreezeBlocks must be 'all' or an integer in 0\.\.64, got 65/);
      await refused(await crafted(files, { meta: (m) => (m.tail!.unfreezeBlocks = 2) }), 'MODEL_INCOMPATIBLE', /Tail starts at '[^']+', the backbone's at '[^']+'/);
      const reversed = [...meta.tail!.weights[0]!.shape].reverse();
      await refused(await crafted(files, { meta: (m) => (m.tail!.weights[0]!.shape = reversed) }), 'MODEL_INCOMPATIBLE', new RegExp(`Tail weight '[^']+' has shape \\[${reversed}\\]`));
      await refused(await crafted(files, { meta: (m) => (m.openSet!.thresholds = [0.5]) }), 'MODEL_LOAD_FAILED', /prototypes\.bin has \d+ values, expected 3 x 40/);
      await refused(await crafted(files, { name: 'prototypes.bin', bytes: files['prototypes.bin']!.subarray(0, 40) }), 'MODEL_LOAD_FAILED', /prototypes\.bin has 10 values/);
      // Fields missing or of the wrong type: typed errors, never a TypeError.
      await refused({ ...files, 'edgetune.json': enc.encode('null') }, 'MODEL_LOAD_FAILED', /format must be 'edgetune-model'/);
      await refused(await crafted(files, { meta: (m) => (m.labels = ['a', 2 as never, 'c']) }), 'MODEL_LOAD_FAILED', /labels must list at least two class names/);
      await refused(await crafted(files, { meta: (m) => (m.labels = ['a', 'b']) }), 'MODEL_INCOMPATIBLE', /Head has 3 outputs for 2 labels/);
      await refused(await crafted(files, { meta: (m) => delete (m as Partial<ModelMetadata>).backbone }), 'MODEL_INCOMPATIBLE', /trained on backbone 'undefined' \(manifest undefined\), but 'tiny_mobilenet_\w+' \(manifest [0-9a-f]{12}\) is loaded/);
      await refused(await crafted(files, { meta: (m) => delete (m as Partial<ModelMetadata>).preprocessing }), 'MODEL_INCOMPATIBLE', /preprocessing version undefined, this edgetune uses \d+/);
      await refused(await crafted(files, { meta: (m) => delete (m as Partial<ModelMetadata>).files }), 'MODEL_LOAD_FAILED', /lack model\.json/);
      for (const depth of [-1, 1.5, 'some']) {
        await refused(await crafted(files, { meta: (m) => (m.tail!.unfreezeBlocks = depth as never) }), 'MODEL_LOAD_FAILED', /unfreezeBlocks must be 'all' or an integer in 0\.\.64/);
      }
      // 0 and 64 are depths: refused by the backbone (no cut there), not by the range check.
      for (const depth of [0, 64]) await refused(await crafted(files, { meta: (m) => (m.tail!.unfreezeBlocks = depth) }), 'MODEL_INCOMPATIBLE', /Tail starts at|blocks/);
      await refused(await crafted(files, { meta: (m) => (m.openSet!.thresholds = [0.5, null as never, 0.5]) }), 'MODEL_LOAD_FAILED', /prototypes\.bin has \d+ values/);
      const tailNan = new Float32Array(files['tail.bin']!.slice().buffer);
      tailNan[1] = Infinity;
      await refused(await crafted(files, { name: 'tail.bin', bytes: new Uint8Array(tailNan.buffer) }), 'MODEL_INTEGRITY', /tail\.bin holds a value that is not a finite number/);
      const protoNan = new Float32Array(files['prototypes.bin']!.slice().buffer);
      protoNan[0] = NaN;
      await refused(await crafted(files, { name: 'prototypes.bin', bytes: new Uint8Array(protoNan.buffer) }), 'MODEL_INTEGRITY', /prototypes\.bin holds a value that is not a finite number/);
      assert.ok(meta.tail && meta.openSet);
    });

    it('imports a head with a hidden layer, and one whose metadata omits the head section; imports leave no tensor behind', async () => {
      await engine.fineTune({ ...TRAIN, hiddenUnits: 8 });
      const hidden = await engine.export();
      assert.equal(metaOf(hidden).head?.hiddenUnits, 8);
      const want = await engine.predictBatch(IMAGES, { topK: 3 });
      await other.import(hidden);
      close(await other.predictBatch(IMAGES, { topK: 3 }), want, 1e-5);
      assert.equal(metaOf(await other.export()).head?.hiddenUnits, 8, 'a re-export keeps the hidden layer in its metadata');
      await engine.fineTune(TRAIN);
      const plain = await crafted(await engine.export(), { meta: (m) => delete (m as Partial<ModelMetadata>).head });
      const plainWant = await engine.predictBatch(IMAGES, { topK: 3 });
      await engine.fineTune(STRATEGIES.partial!);
      const partial = await engine.export();
      const before = tf.memory().numTensors;
      await other.import(plain);
      close(await other.predictBatch(IMAGES, { topK: 3 }), plainWant, 1e-5);
      await other.import(partial);
      await other.import(hidden);
      assert.equal(tf.memory().numTensors, before, 'each import replaced the model before it, leaving nothing behind');
    });
  });
}
