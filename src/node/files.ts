// File-backed image sources and model directories for Node.
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { readLocalFile } from '../engine/model/fetch.js';
import { join, relative, sep } from 'node:path';
import { recoverOutputDir, replaceOutputDir } from './output-dir.js';
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
  const bytes = await readImageBytes(path);
  const hash = createHash('sha256').update(bytes).digest('hex');
  return { hash, name: path, load: async () => decodeImage(await readImageBytes(path), path) };
}

/** An image file's bytes: a regular file, not empty, at most IMAGE_MAX_BYTES. */
export async function readImageBytes(path: string): Promise<Uint8Array> {
  const bytes = await readBoundedFile(path, IMAGE_MAX_BYTES, 'image', 'INVALID_IMAGE');
  if (bytes.length === 0) throw new EdgetuneError('INVALID_IMAGE', `${path}: empty file`);
  return bytes;
}

/** Larger files are refused before they are read (a 100-megapixel PNG is well under this). */
export const IMAGE_MAX_BYTES = 256 * 1024 * 1024;

/** What `edgetune train` and `export` write beside the model files for people (not part of the model). */
const TRAINING_OUTPUTS = new Set(['report.html', 'history.csv', 'predictions.csv', 'README.md']);

/** Bounds on a model folder's files: a head, a tail and a merged network are tens of MB at most. */
export const MODEL_FILE_MAX_BYTES = 512 * 1024 * 1024;
const METADATA_MAX_BYTES = 4 * 1024 * 1024;
const MODEL_MAX_FILES = 64;

/** Reads one regular file of at most `max` bytes (never a FIFO, a device or an unbounded read). */
export const readBoundedFile = readLocalFile;

/**
 * Reads a model directory into a ModelFiles map (posix-style names): edgetune.json
 * first, so a folder that is not a model is refused before anything else is read;
 * then its other regular files, each and all together bounded.
 *
 * @throws EdgetuneError MODEL_LOAD_FAILED naming the folder or file.
 */
export async function readModelDir(dir: string): Promise<ModelFiles> {
  await recoverOutputDir(dir).catch(() => undefined);
  const s = await stat(dir).catch(() => null);
  if (!s?.isDirectory()) throw new EdgetuneError('MODEL_LOAD_FAILED', `${dir}: ${s ? 'not a folder' : 'no such folder'} (expected an edgetune model folder)`);
  const meta = join(dir, 'edgetune.json');
  if (!(await stat(meta).catch(() => null))) throw new EdgetuneError('MODEL_LOAD_FAILED', `${dir}: no edgetune.json (not an edgetune model folder)`);
  const files: ModelFiles = { 'edgetune.json': await readBoundedFile(meta, METADATA_MAX_BYTES, 'model metadata') };
  let entries: string[];
  try {
    entries = (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => !e.isDirectory())
      .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
  } catch (err) {
    throw new EdgetuneError('MODEL_LOAD_FAILED', `Cannot read model directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  let total = files['edgetune.json']!.length;
  for (const path of entries) {
    const name = relative(dir, path).split(sep).join('/');
    if (name === 'edgetune.json' || name.startsWith('cache/')) continue; // the embedding cache lives beside the model
    if (TRAINING_OUTPUTS.has(name)) continue; // train's report files are for people
    if (Object.keys(files).length >= MODEL_MAX_FILES) throw new EdgetuneError('MODEL_LOAD_FAILED', `${dir}: more than ${MODEL_MAX_FILES} files; not an edgetune model folder`);
    files[name] = await readBoundedFile(path, MODEL_FILE_MAX_BYTES - total, 'model file');
    total += files[name]!.length;
  }
  return files;
}

/**
 * Writes model files into `dir`, replacing a previous model there atomically and
 * recoverably (its embedding cache kept). `dir` must be new, empty or an edgetune
 * model folder: a folder holding anything else is refused, never overwritten.
 *
 * @throws EdgetuneError INVALID_ARGUMENT for a folder edgetune may not write, SAVE_FAILED naming the path.
 */
export async function writeModelDir(dir: string, files: ModelFiles): Promise<void> {
  await replaceOutputDir(dir, files);
}
