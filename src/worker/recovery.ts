// A WebGPU device can be lost after start (driver reset, GPU process crash, a
// tab in the background on mobile). The worker then moves to the next backend
// in the preference order, with the same examples and the last good model.
import * as tf from '@tensorflow/tfjs-core';
import { createEngine, type Engine, type EngineOptions } from '../engine/engine.js';
import type { ModelFiles } from '../types.js';

/** Resolves with the reason when `engine`'s WebGPU device is lost; never, on other backends. */
export function deviceLost(engine: Engine): Promise<string> {
  if (engine.backend.name !== 'webgpu') return new Promise(() => undefined);
  const device = (tf.backend() as unknown as { device?: { lost?: Promise<{ message?: string; reason?: string }> } }).device;
  return (device?.lost ?? new Promise(() => undefined)).then((info) => info?.message || info?.reason || 'unknown reason');
}

/** A new engine on the next backend, holding `lost`'s examples and `model` (the last one trained or loaded). */
export async function recoverFrom(lost: Engine, reason: string, options: EngineOptions, model: ModelFiles | null): Promise<Engine> {
  const examples = lost.exampleList;
  try {
    await lost.dispose();
  } catch {
    // Freeing tensors on a lost device may fail; the device is gone either way.
  }
  tf.removeBackend('webgpu');
  const rest = (options.backends ?? ['webgpu', 'wasm', 'cpu']).filter((b) => b !== 'webgpu');
  const next = await createEngine({ ...options, backends: rest.length ? rest : ['wasm', 'cpu'] });
  next.backend.reasons.webgpu = `the WebGPU device was lost after start (${reason}); moved to ${next.backend.name}`;
  next.adoptExamples(examples);
  if (model) await next.import(model);
  return next;
}
