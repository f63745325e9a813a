// int8 arithmetic against float64 references, and the calibration executor
// against the engine: the network the exports write computes the engine's
// embeddings, and its recorded ranges hold every value it produced.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { createEngine, type Engine } from '../../engine.js';
import { syntheticImage, SYNTHETIC_CLASSES } from '../../../testing/synthetic.js';
import { batchToInput, FULL_VIEW } from '../../data/preprocess.js';
import { backboneNetwork } from '../network.js';
import { calibrateRanges, runNetwork, withNetworkWeights } from './calibrate.js';
import { activationParams, quantizeBias, quantizePerChannel } from './int8.js';
import { createRng } from '../../util/random.js';

describe('int8 arithmetic', () => {
  it('activation parameters map the range onto the integers with 0 exact, and clamp the zero point', () => {
    for (const [range, qmin, qmax] of [[[-1.5, 4.2], 0, 255], [[0, 6], -128, 127], [[0.5, 2], -128, 127], [[-3, -1], 0, 255]] as const) {
      const { scale, zeroPoint } = activationParams([range[0], range[1]], qmin, qmax);
      assert.ok(Number.isInteger(zeroPoint) && zeroPoint >= qmin && zeroPoint <= qmax);
      // The range (widened to hold 0) fits in [qmin, qmax] within one step at each end.
      const lo = Math.min(range[0], 0);
      const hi = Math.max(range[1], 0);
      assert.ok(Math.abs(scale * (qmin - zeroPoint) - lo) <= scale, `${range}: low end`);
      assert.ok(Math.abs(scale * (qmax - zeroPoint) - hi) <= scale, `${range}: high end`);
      assert.equal(scale * (zeroPoint - zeroPoint), 0);
    }
    assert.deepEqual(activationParams([0, 0], -128, 127), { scale: 1, zeroPoint: -128 });
  });

  it('per-channel weights: each channel gets the scale of least squared error among 1..0.5 x max/127, finer than max/127 where an outlier is', () => {
    const rng = createRng(7);
    // [2, 3, 4, 5]: quantized along axis 3 (a depthwise kernel's layout) and axis 0 (OHWI).
    const shape = [2, 3, 4, 5];
    const data = Float32Array.from({ length: 120 }, (_, i) => (rng() - 0.5) * (1 + (i % 5)) * (i === 7 ? 40 : 1));
    for (const axis of [0, 3]) {
      const { q, scales } = quantizePerChannel({ shape, data }, axis);
      assert.equal(scales.length, shape[axis]);
      const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      const channelOf = (i: number) => Math.floor(i / inner) % shape[axis]!;
      for (let c = 0; c < shape[axis]!; c++) {
        const values = Array.from(data).filter((_, i) => channelOf(i) === c);
        const err = (s: number) => values.reduce((e, v) => e + (v - s * Math.max(-127, Math.min(127, Math.round(v / s)))) ** 2, 0);
        const naive = Math.max(...values.map(Math.abs)) / 127;
        // float64 errors of the candidates, against the float32 scale chosen: equal within rounding.
        const best = Math.min(...Array.from({ length: 61 }, (_, k) => err(naive * (1 - k / 120))));
        assert.ok(scales[c]! >= 0.5 * naive * (1 - 1e-6) && scales[c]! <= naive * (1 + 1e-6), `axis ${axis} channel ${c}: scale ${scales[c]} outside [0.5, 1] x ${naive}`);
        assert.ok(err(scales[c]!) <= best * (1 + 1e-5), `axis ${axis} channel ${c}: error ${err(scales[c]!)}, the best candidate's ${best}`);
      }
      data.forEach((v, i) => assert.equal(q[i], Math.max(-127, Math.min(127, Math.round(v / scales[channelOf(i)]!))) + 0));
    }
    // Weights stored quantized (steps of 1/127) and one extreme value: clipping it buys exact steps for the rest.
    const stored = Float32Array.from({ length: 5001 }, (_, i) => (i ? Math.round((rng() * 2 - 1) * 127) / 127 : 1.1));
    const clipped = quantizePerChannel({ shape: [1, 5001], data: stored }, 0).scales[0]!;
    const error = (s: number) => stored.reduce((e, v) => e + (v - s * Math.max(-127, Math.min(127, Math.round(v / s)))) ** 2, 0);
    assert.ok(clipped < 0.95 * (1.1 / 127) && error(clipped) < 0.5 * error(1.1 / 127), `scale ${clipped * 127}/127, error ${error(clipped)} vs ${error(1.1 / 127)} at max/127`);
    const zeros = quantizePerChannel({ shape: [2, 2], data: Float32Array.of(0, 0, 1, -2) }, 0);
    assert.deepEqual(Array.from(zeros.scales.slice(0, 1)), [1], 'a channel of zeros gets scale 1');
  });

  it('biases: int32 at input scale x weight scale, per channel', () => {
    const { q, scales } = quantizeBias(Float32Array.of(0.5, -1.25, 3), 0.02, Float32Array.of(0.1, 0.01, 0.5));
    assert.deepEqual(Array.from(scales, (s) => Number(s.toPrecision(6))), [0.002, 0.0002, 0.01]);
    assert.deepEqual(Array.from(q), [250, -6250, 300]);
  });
});

for (const backbone of ['mobilenet_v2', 'mobilenet_v2_140'] as const) {
  describe(`calibration executor on ${backbone}`, () => {
    let engine: Engine;
    before(async () => {
      engine = await createEngine({ backends: ['wasm', 'cpu'], backbone });
    });
    after(() => engine.dispose());

    it("computes the engine's embeddings, and its ranges hold every value of the batch", async () => {
      const bb = (engine as unknown as { backbone: Parameters<typeof backboneNetwork>[0] }).backbone;
      const net = backboneNetwork(bb);
      const images = SYNTHETIC_CLASSES.slice(0, 3).map((c, i) => syntheticImage(c, 40 + i, 224));
      const before = tf.memory().numTensors;
      const features = await withNetworkWeights(net, async (w) => {
        const out = tf.tidy(() => runNetwork(net, batchToInput(images.map((img) => ({ img, boxes: [FULL_VIEW] })), bb.manifest), w));
        const data = (await out.data()) as Float32Array;
        out.dispose();
        return data;
      });
      const { embedding } = await engine.embedder.embedViews(images.map((img) => ({ img, boxes: [FULL_VIEW] })));
      assert.equal(embedding.length, features.length);
      let max = 0;
      embedding.forEach((v, i) => (max = Math.max(max, Math.abs(v - features[i]!))));
      assert.ok(max <= 1e-4, `max abs difference from the engine's embedding ${max}`);

      async function* batches() {
        yield tf.tidy(() => batchToInput(images.map((img) => ({ img, boxes: [FULL_VIEW] })), bb.manifest));
      }
      const ranges = await calibrateRanges(net, batches());
      assert.equal(ranges.size, net.ops.length + 1, 'the input and every op');
      const [lo, hi] = ranges.get(net.output)!;
      assert.ok(features.every((v) => v >= lo - 1e-6 && v <= hi + 1e-6), 'the output range holds the features');
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    });
  });
}
