// File-backed image sources and model directories for Node.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { EdgetuneError } from '../errors.js';
import type { ModelFiles } from '../types.js';
import { decodeImage } from './decode.js';
import type { ImageSource } from '../engine/data/examples.js';

/**
 * An image file as a source: hashed from its bytes now, decoded only when its
 * embedding is not cached.
 * @throws EdgetuneError INVALID_IMAGE when the file cannot be read or is empty.
 */
export async function fileSource(path: string): Promise<ImageSource> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new EdgetuneError('INVALID_IMAGE', `${path}: cannot read (${(err as Error).message})`, { cause: err });
  }
  if (bytes.length === 0) throw new EdgetuneError('INVALID_IMAGE', `${path}: empty file`);
  const hash = createHash('sha256').update(bytes).digest('hex');
  return { hash, name: path, load: async () => decodeImage(await readFile(path), path) };
}

/** Reads every file under a model directory into a ModelFiles map (posix-style names). */
/** What `edgetune train` writes beside the model files (not part of the model). */
const TRAINING_OUTPUTS = new Set(['report.html', 'history.csv', 'predictions.csv']);

export async function readModelDir(dir: string): Promise<ModelFiles> {
  const files: ModelFiles = {};
  let entries: string[];
  try {
    entries = (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
  } catch (err) {
    throw new EdgetuneError('MODEL_LOAD_FAILED', `Cannot read model directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  for (const path of entries) {
    const name = relative(dir, path).split(sep).join('/');
    if (name.startsWith('cache/')) continue; // the embedding cache lives beside the model
    if (TRAINING_OUTPUTS.has(name)) continue; // train's report files are for people
    files[name] = new Uint8Array(await readFile(path));
  }
  return files;
}

/**
 * Writes model files atomically: into a temp sibling directory, then renamed over
 * `dir`. A crash mid-write never leaves a half-written model in `dir`.
 */
export async function writeModelDir(dir: string, files: ModelFiles): Promise<void> {
  const tmp = `${dir.replace(/[/\\]$/, '')}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  try {
    for (const [name, bytes] of Object.entries(files)) {
      if (name.includes('..') || name.startsWith('/')) throw new EdgetuneError('INVALID_ARGUMENT', `Refusing model file name '${name}'`);
      const path = join(tmp, name);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, bytes);
    }
    const old = `${tmp}.old`;
    await rm(old, { recursive: true, force: true });
    // Keep an existing cache/ folder: it is valid for the same backbone whatever the head.
    await rename(dir, old).catch(() => undefined);
    await rename(join(old, 'cache'), join(tmp, 'cache')).catch(() => undefined);
    await rename(tmp, dir);
    await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err instanceof EdgetuneError ? err : new EdgetuneError('SAVE_FAILED', `Cannot write model to ${dir}: ${(err as Error).message}`, { cause: err });
  }
}
