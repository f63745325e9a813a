// The partial and full strategies' stages on the tiny generated backbone: the
// schedules, a tail kept or not, a step split to fit its memory budget (same
// result), activations over the cache budget recomputed (same result), the
// caches reused by a second run, and export/import of a trained tail.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isEdgetuneError } from '../../../errors.js';
import type { FineTuneOptions, Prediction, Progress } from '../../../types.js';
import { pixelSource } from '../../data/examples.js';
import type { Engine } from '../../engine.js';
import { Tail } from '../../model/tail.js';
import { syntheticImage, type SyntheticClass } from '../../../testing/synthetic.js';
import { tinyEngine } from '../../../testing/tiny-backbone.js';
import { STRATEGY_IDS, STRATEGY_INFO } from './index.js';
import { microBatchFor, STEP_BYTES_PER_FORWARD_BYTE } from './tail-strategy.js';

const CLASSES: SyntheticClass[] = ['disc', 'stripes', 'checker'];
const PARTIAL = { strategy: 'partial', warmStart: false, epochs: 4, augment: 1, seed: 5, validationSplit: 0.25, batchSize: 8, patience: 100, partial: { unfreezeBlocks: 2, epochs: 3 } } as const;
const TEST_IMAGES = CLASSES.map((c, i) => syntheticImage(c, 900 + i, 40));

async function tinyWithExamples(): Promise<Engine> {
  const engine = await tinyEngine();
  for (const label of CLASSES) {
    await engine.addExamples(label, await Promise.all(Array.from({ length: 8 }, (_, i) => pixelSource(syntheticImage(label, 100 + i, 40), `${label}${i}`))));
  }
  return engine;
}

const closeTo = (a: Prediction[][], b: Prediction[][], tol: number, what: string) =>
  a.forEach((row, i) =>
    row.forEach((p, j) => {
      assert.equal(p.label, b[i]![j]!.label, what);
      assert.ok(Math.abs(p.probability - b[i]![j]!.probability) < tol, `${what}: ${p.probability} vs ${b[i]![j]!.probability}`);
    }),
  );

const tailOf = async (engine: Engine) => JSON.parse(new TextDecoder().decode((await engine.export())['edgetune.json'])).tail;

describe('STRATEGY_INFO', () => {
  it('names and summarizes each strategy for the CLI and the demo, with the option defaults of the backbone strategies', () => {
    assert.deepEqual(STRATEGY_IDS, ['head', 'partial', 'full']);
    const titles = STRATEGY_IDS.map((id) => STRATEGY_INFO[id].title);
    assert.deepEqual(titles, ['head only', 'last blocks', 'whole network']);
    for (const id of STRATEGY_IDS) assert.ok(STRATEGY_INFO[id].summary.length > 40 && STRATEGY_INFO[id].id === id, id);
    assert.equal(new Set(STRATEGY_IDS.map((id) => STRATEGY_INFO[id].summary)).size, 3);
    assert.equal(STRATEGY_INFO.head.defaults, null);
    assert.deepEqual([STRATEGY_INFO.partial.defaults!.unfreezeBlocks, STRATEGY_INFO.full.defaults!.learningRate], [6, 3e-5]);
  });
});

describe('microBatchFor', () => {
  it('splits a step only when the batch does not fit, and refuses a budget below one image', () => {
    const per = 1000 * STEP_BYTES_PER_FORWARD_BYTE;
    assert.equal(microBatchFor(1000, { batchSize: 8, stepMemoryBytes: 8 * per, strategy: 'partial' }), undefined);
    assert.equal(microBatchFor(1000, { batchSize: 8, stepMemoryBytes: 7 * per, strategy: 'partial' }), 7);
    assert.equal(microBatchFor(1000, { batchSize: 8, stepMemoryBytes: per, strategy: 'full' }), 1);
    assert.throws(
      () => microBatchFor(2 ** 20, { batchSize: 8, stepMemoryBytes: 2 ** 21, strategy: 'full' }),
      (e) => isEdgetuneError(e, 'OUT_OF_MEMORY') && /about 3 MiB per image, more than stepMemoryBytes \(2 MiB\): raise full\.stepMemoryBytes/.test(e.message),
    );
  });
});

describe('Partial and full strategies (tiny backbone)', () => {
  let engine: Engine;
  before(async () => {
    engine = await tinyWithExamples();
  });
  after(() => engine.dispose());

  it("'direct' (the default) trains the tail once, on train + validation, after the head's selection", async () => {
    const events: string[] = [];
    const embeds: Progress[] = [];
    const r = await engine.fineTune({ ...PARTIAL, onProgress: (p) => (p.phase === 'train' ? events.push(p.stage!) : embeds.push(p)) });
    const p = r.partial!;
    // The embedding pass reports where the activations live.
    assert.ok(embeds.length > 0 && embeds.every((e) => e.phase === 'embed' && e.prefix?.cached === 48));
    assert.equal(p.bestEpoch, 3);
    assert.equal(p.history.length, 3);
    assert.ok(p.history.every((h) => h.valAccuracy === undefined), 'no validation left: it trained on it');
    assert.equal(r.refitHistory!.length, r.bestEpoch);
    assert.deepEqual(events, [...Array(4).fill('select'), ...Array(r.bestEpoch).fill('refit'), 'partial', 'partial', 'partial']);
    assert.deepEqual(p.prefix, { cached: 48, recomputed: 0, budgetBytes: 256 * 2 ** 20 });
    assert.deepEqual(p.memory, { microBatch: 8, peakBytes: p.memory.peakBytes, stepMemoryBytes: 4 * 2 ** 30 });
    assert.ok(p.memory.peakBytes > 0);
    assert.equal(p.headOnlyValAccuracy, r.bestValAccuracy);
    assert.equal(r.config.unfreezeBlocks, 2);
    assert.equal((await tailOf(engine)).unfreezeBlocks, 2);
  });

  it("'select' checkpoints the tail on validation from the head-only start, and keeps it only if it beats it", async () => {
    const r = await engine.fineTune({ ...PARTIAL, partial: { ...PARTIAL.partial, schedule: 'select', learningRate: 3e-3 } });
    const p = r.partial!;
    console.log('DEBUG select', p.bestEpoch, p.headOnlyValAccuracy, p.history.map((h) => h.valAccuracy));
    assert.equal(p.history.length, 3);
    assert.ok(p.history.every((h) => h.valAccuracy !== undefined));
    const best = Math.max(p.headOnlyValAccuracy!, ...p.history.map((h) => h.valAccuracy!));
    if (p.bestEpoch === 0) {
      assert.equal(await tailOf(engine), undefined, 'a tail that did not beat the head is not kept');
      assert.ok(p.history.every((h) => h.valAccuracy! <= p.headOnlyValAccuracy!));
    } else {
      assert.equal(p.history[p.bestEpoch - 1]!.valAccuracy, best);
      assert.ok(await tailOf(engine));
    }
    assert.equal(p.refitHistory, null);
    // A learning rate that wrecks the tail: the head-only model is kept.
    const wrecked = await engine.fineTune({ ...PARTIAL, partial: { ...PARTIAL.partial, schedule: 'select', learningRate: 10 } });
    assert.equal(wrecked.partial!.bestEpoch, 0);
    assert.equal(await tailOf(engine), undefined);
  });

  it("'select-refit' retrains the kept tail from its start on train + validation for the selected epochs", async () => {
    const r = await engine.fineTune({ ...PARTIAL, validationSplit: 0.5, partial: { ...PARTIAL.partial, schedule: 'select-refit', learningRate: 3e-3 } });
    const p = r.partial!;
    console.log('DEBUG sr', p.bestEpoch, p.headOnlyValAccuracy, p.history.map((h) => h.valAccuracy));
    if (p.bestEpoch > 0) {
      assert.equal(p.refitHistory!.length, p.bestEpoch);
      assert.ok(await tailOf(engine));
    } else assert.equal(p.refitHistory, null);
    assert.equal(r.refitHistory!.length, r.bestEpoch);
  });

  it('splits a step that does not fit stepMemoryBytes and reaches the same model', async () => {
    const opts: FineTuneOptions = { ...PARTIAL, validationSplit: 0, warmStart: false };
    await engine.fineTune(opts);
    const whole = await engine.predictBatch(TEST_IMAGES);
    const r = await engine.fineTune({ ...opts, partial: { ...PARTIAL.partial, stepMemoryBytes: 2 ** 20 } });
    const tail = await Tail.fromBackbone(engine.backbone, 2);
    const micro = Math.floor(2 ** 20 / (tail.forwardBytesPerImage * STEP_BYTES_PER_FORWARD_BYTE));
    tail.dispose();
    assert.ok(micro < 8);
    assert.equal(r.partial!.memory.microBatch, micro);
    closeTo(await engine.predictBatch(TEST_IMAGES), whole, 1e-4, 'split step');
  });

  it('recomputes the activations that do not fit the cache budget, with the same result', async () => {
    const opts: FineTuneOptions = { ...PARTIAL, validationSplit: 0, warmStart: false };
    await engine.fineTune(opts);
    const cached = await engine.predictBatch(TEST_IMAGES);
    // The cut of 2 blocks is 8x8x12 (1,536 bytes a view in fp16): room for 10 of 48 views.
    const r = await engine.fineTune({ ...opts, partial: { ...PARTIAL.partial, cacheBytes: 10 * 1536 + 100 } });
    assert.deepEqual(r.partial!.prefix, { cached: 10, recomputed: 38, budgetBytes: 10 * 1536 + 100 });
    // fp16 cached activations against float32 recomputed ones.
    closeTo(await engine.predictBatch(TEST_IMAGES), cached, 2e-2, 'recomputed');
  });

  it('a second run reads the embeddings and activations it cached; a deeper cut captures again', async () => {
    await engine.fineTune(PARTIAL);
    const again = await engine.fineTune(PARTIAL);
    assert.deepEqual([again.embeddingsComputed, again.cacheHits], [0, 48]);
    const deeper = await engine.fineTune({ ...PARTIAL, partial: { ...PARTIAL.partial, unfreezeBlocks: 3 } });
    assert.equal(deeper.embeddingsComputed, 48, 'embeddings cached, but the new cut is not');
  });

  it('full: every weight from the stem on trains; a step that cannot fit fails before any image is embedded', async () => {
    const full = { ...PARTIAL, strategy: 'full', validationSplit: 0, full: { epochs: 2 } } as const;
    const r = await engine.fineTune(full);
    assert.equal(r.config.unfreezeBlocks, 'all');
    assert.deepEqual(r.partial!.prefix, { cached: 48, recomputed: 0, budgetBytes: 256 * 2 ** 20 });
    const files = await engine.export();
    const meta = JSON.parse(new TextDecoder().decode(files['edgetune.json']));
    assert.equal(meta.tail.unfreezeBlocks, 'all');
    assert.equal(meta.training.bestValAccuracy, undefined, 'no validation, no validation accuracy');
    assert.equal(r.bestValAccuracy, undefined);
    assert.equal(meta.tail.cutNode, 'input');
    const fresh = await Tail.fromBackbone(engine.backbone, 'all');
    try {
      const trained = new Float32Array(files['tail.bin']!.slice().buffer);
      let offset = 0;
      for (const [i, w] of (meta.tail.weights as { name: string; shape: number[] }[]).entries()) {
        const size = w.shape.reduce((a, b) => a * b, 1);
        const start = fresh.weights().find((x) => x.name === w.name)!.tensor.dataSync();
        const moved = trained.subarray(offset, offset + size).some((v, k) => Math.abs(v - start[k]!) > 1e-7);
        assert.ok(moved, `weight ${i} (${w.name}) trained`);
        offset += size;
      }
      assert.equal(offset * 4, files['tail.bin']!.length);
    } finally {
      fresh.dispose();
    }
    const other = await tinyEngine();
    try {
      await other.import(files);
      closeTo(await other.predictBatch(TEST_IMAGES), await engine.predictBatch(TEST_IMAGES), 1e-5, 'reimported');
    } finally {
      other.dispose();
    }
    const before = (await engine.stats()).cache;
    await assert.rejects(engine.fineTune({ ...full, seed: 99, augment: 3, full: { stepMemoryBytes: 2 ** 20 } }), (e) => isEdgetuneError(e, 'OUT_OF_MEMORY'));
    assert.deepEqual((await engine.stats()).cache, before, 'nothing embedded');
  });
});

