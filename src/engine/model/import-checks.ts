// Checks on imported model files before tfjs allocates anything from them: a
// crafted or corrupted model.json must not make the engine reserve gigabytes, and
// weights that are not finite numbers must never answer a prediction.
import { EdgetuneError } from '../../errors.js';
import { checkLabel } from '../data/examples.js';

/** The head's layers are small: a hidden layer of this many units is already far beyond any default. */
const MAX_UNITS = 16384;

const bad = (msg: string): never => {
  throw new EdgetuneError('MODEL_INCOMPATIBLE', msg);
};

/** Every number in a JSON value under keys named like Keras' input shapes. */
function inputShapes(v: unknown, out: unknown[][] = []): unknown[][] {
  if (Array.isArray(v)) v.forEach((x) => inputShapes(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if ((k === 'batch_input_shape' || k === 'batchInputShape' || k === 'input_shape') && Array.isArray(x)) out.push(x);
      else inputShapes(x, out);
    }
  }
  return out;
}

/** Every `units` of the topology's layers. */
function unitsOf(v: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(v)) v.forEach((x) => unitsOf(x, out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (k === 'units' ? out.push(x) : unitsOf(x, out));
  return out;
}

/**
 * The head's model.json against what it must be: inputs as wide as the backbone's
 * embedding, bounded layer sizes, float32 weights whose sizes add up to weights.bin.
 * @throws EdgetuneError MODEL_INCOMPATIBLE, MODEL_LOAD_FAILED
 */
export function checkHeadJson(json: { modelTopology?: unknown; weightsManifest?: unknown }, weightBytes: number, embeddingSize: number): void {
  if (!json || typeof json !== 'object' || !Array.isArray(json.weightsManifest)) throw new EdgetuneError('MODEL_LOAD_FAILED', 'model.json has no weightsManifest');
  for (const shape of inputShapes(json.modelTopology)) {
    const last = shape[shape.length - 1];
    if (last !== embeddingSize) bad(`The head's input is ${String(last)} wide; the backbone's embeddings are ${embeddingSize}`);
  }
  for (const u of unitsOf(json.modelTopology)) {
    if (!Number.isInteger(u) || (u as number) < 1 || (u as number) > MAX_UNITS) bad(`A head layer has ${String(u)} units (at most ${MAX_UNITS})`);
  }
  let floats = 0;
  for (const group of json.weightsManifest as { weights?: { shape?: unknown; dtype?: unknown }[] }[]) {
    for (const w of group?.weights ?? []) {
      const shape = w?.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0 && d <= embeddingSize * MAX_UNITS)) bad('model.json lists a weight with an invalid shape');
      if ((w.dtype ?? 'float32') !== 'float32') bad(`model.json lists a ${String(w.dtype)} weight; edgetune heads are float32`);
      floats += (shape as number[]).reduce((a, b) => a * b, 1);
    }
  }
  if (floats * 4 !== weightBytes) bad(`model.json lists ${floats * 4} bytes of weights, weights.bin holds ${weightBytes}`);
}

/** Refuses weights that are not finite numbers (NaN or infinity from a diverged or damaged model). */
export function checkFinite(bytes: Uint8Array, name: string): void {
  const usable = bytes.byteLength - (bytes.byteLength % 4);
  const copy = new Float32Array(bytes.slice(0, usable).buffer);
  for (let i = 0; i < copy.length; i++) {
    if (!Number.isFinite(copy[i]!)) throw new EdgetuneError('MODEL_INTEGRITY', `${name} holds a value that is not a finite number (${copy[i]}) at index ${i}: the model is damaged or diverged`);
  }
}

/** Imported labels obey the rules trained ones do: valid, distinct, as given (no surrounding spaces). */
export function checkLabels(labels: unknown[]): string[] {
  const seen = new Set<string>();
  return labels.map((l, i) => {
    let label: string;
    try {
      label = checkLabel(l);
    } catch (err) {
      throw new EdgetuneError('MODEL_LOAD_FAILED', `edgetune.json: label ${i} is invalid: ${(err as Error).message}`, { cause: err });
    }
    if (label !== l) throw new EdgetuneError('MODEL_LOAD_FAILED', `edgetune.json: label ${i} has surrounding spaces`);
    if (seen.has(label)) throw new EdgetuneError('MODEL_LOAD_FAILED', `edgetune.json: label '${label}' appears twice`);
    seen.add(label);
    return label;
  });
}
