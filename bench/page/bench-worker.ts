// The engine half of the bench page, in a dedicated worker as the SDK's own engine
// runs: the backbone floor and the naive baseline are measured where fineTune runs
// (a worker's WASM threads block on a wait; the page's main thread must spin).
import * as tf from '@tensorflow/tfjs-core';
import * as Comlink from 'comlink';
import { createEngine, type Engine } from '../../src/engine/engine.js';
import type { BackendName } from '../../src/types.js';
import { batchToInput, FULL_VIEW, viewsToInput } from '../../src/engine/data/preprocess.js';
import { fineTuneRounds, floor, forwardPass, images, naive, EPOCHS } from '../lib/engine-suite.js';
import { summarizeRounds } from '../lib/rounds.js';
import { measure, round } from '../lib/stats.mjs';

export interface EngineRunOptions {
  backends: BackendName[];
  quick: boolean;
  floorOnly?: boolean;
  /** The floor's batch sizes (default: 1, 8 and 16; 1 and 16 floor-only). */
  floorBatches?: number[];
  /** Images per batch size in the floor (default: 3 passes per size). */
  floorImages?: number;
  naiveN: number;
  /** fineTune's image count: the engine's own embedding pass over as many images is timed here too. */
  n: number;
  wasmThreads?: number;
}

/**
 * Preprocessing alone (pixels -> normalized [16, 224, 224, 3]), mean ms per image: the
 * bench's generated 96x96 RGB images, and 448x336 RGBA (a photo as the worker decodes
 * it), as the embedding pass batches them and built one image at a time then concatenated.
 */
async function preprocessMs(engine: Engine) {
  const rgba = (k: number) => ({ width: 448, height: 336, channels: 4 as const, data: Uint8ClampedArray.from({ length: 448 * 336 * 4 }, (_, i) => (i * (k + 7)) % 256) });
  const sets = { '96x96': images(16, 77).map((b) => b.img), '448x336': Array.from({ length: 16 }, (_, k) => rgba(k)) };
  const manifest = engine.backbone.manifest;
  const time = async (build: () => tf.Tensor) =>
    (await measure(async () => {
      const x = tf.tidy(build);
      await x.data();
      x.dispose();
    }, { warmup: 1, repeats: 7 })).mean / 16;
  const out: Record<string, { batched: number; oneByOne: number }> = {};
  for (const [size, imgs] of Object.entries(sets)) {
    out[size] = {
      batched: round(await time(() => batchToInput(imgs.map((img) => ({ img, boxes: [FULL_VIEW] })), manifest))),
      oneByOne: round(await time(() => tf.concat(imgs.map((img) => viewsToInput(img, [FULL_VIEW], manifest))))),
    };
  }
  return out;
}

/** A held engine and a fixed batch-1 input, for forward passes called one by one from the page. */
let held: { engine: Engine; x: tf.Tensor4D } | null = null;

const api = {
  async open(o: Pick<EngineRunOptions, 'backends' | 'wasmThreads'>): Promise<void> {
    const engine = await createEngine({ backends: o.backends, modelBaseUrl: '/models/', wasmPaths: '/dist/wasm/', ...(o.wasmThreads ? { wasmThreads: o.wasmThreads } : {}) });
    const [h, w] = engine.backbone.manifest.inputSize;
    held = { engine, x: tf.randomUniform([1, h, w, 3], 0, 1, 'float32', 3) as tf.Tensor4D };
  },
  /** One batch-1 forward pass of the held engine's backbone, read back. */
  forwardOnce(): Promise<void> {
    return forwardPass(held!.engine, held!.x);
  },
  /** The held engine's batch-1 floor, timed in a loop inside this worker (no pause between passes). */
  async forwardLoopMs(repeats: number): Promise<number> {
    return (await floor(held!.engine, [1], repeats)).batch1Ms;
  },
  close(): void {
    held?.x.dispose();
    held?.engine.dispose();
    held = null;
  },
  async run(o: EngineRunOptions): Promise<Record<string, unknown>> {
    const engine = await createEngine({ backends: o.backends, modelBaseUrl: '/models/', wasmPaths: '/dist/wasm/', ...(o.wasmThreads ? { wasmThreads: o.wasmThreads } : {}) });
    try {
      const out: Record<string, unknown> = { backend: engine.backend, crossOriginIsolated: globalThis.crossOriginIsolated };
      // SwiftShader WebGPU takes seconds per image: batch 1 only, one timed run.
      const swift = o.backends[0] === 'webgpu';
      const floorImages = o.floorImages;
      const repeats = swift ? 1 : floorImages ? (b: number) => Math.ceil(floorImages / b) : 3;
      out.floor = await floor(engine, swift ? [1] : (o.floorBatches ?? (o.quick || o.floorOnly ? [1, 16] : [1, 8, 16])), repeats);
      if (o.floorOnly) return out;
      out.naive = { n: o.naiveN, epochs: EPOCHS, ms: round(await naive(engine, images(o.naiveN, o.naiveN), EPOCHS), 0) };
      out.preprocessMsPerImage = await preprocessMs(engine);
      // The engine's own fineTune in this worker, its floor measured between its embedding
      // batches (as in Node): what the engine costs beyond the floor, with no drift between
      // the two and without the SDK around it.
      out.engineFineTune = summarizeRounds(o.n, await fineTuneRounds(engine, o.n, o.quick ? 1 : 3));
      return out;
    } finally {
      engine.dispose();
    }
  },
};
export type BenchWorkerApi = typeof api;
Comlink.expose(api);
