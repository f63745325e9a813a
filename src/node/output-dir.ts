// Output folders by contract: edgetune writes only into a folder that is new,
// empty, or one of its own (every entry a name edgetune writes), and replaces it
// whole and recoverably. The new files are written into a hidden staging sibling,
// marked ready by a rename, then swapped in with two renames; a run killed between
// them leaves the old folder and the ready one beside each other, and the next run
// (any command that reads or writes that folder) finishes or undoes the swap.
import { lstat, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { EdgetuneError } from '../errors.js';
import type { ModelFiles } from '../types.js';
import { mkdirs } from './mkdirs.js';

/** The top-level names edgetune writes in a model or export folder. */
export const EDGETUNE_NAMES: ReadonlySet<string> = new Set([
  'edgetune.json',
  'model.json',
  'weights.bin',
  'tail.bin',
  'prototypes.bin',
  'merged',
  'report.html',
  'history.csv',
  'predictions.csv',
  'model.onnx',
  'model.tflite',
  'labels.json',
  'cache',
]);

/** The embedding cache: kept across replacements (it is valid whatever the head). */
const KEPT = 'cache';

const staging = (dir: string, state: 'new' | 'ready' | 'old', pid = process.pid) => join(dirname(dir), `.${basename(dir)}.edgetune-${state}-${pid}`);
const LEFTOVER = /^\.(.+)\.edgetune-(new|ready|old)-(\d+)$/;

const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

const code = (err: unknown) => (err as NodeJS.ErrnoException)?.code;

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return code(err) === 'EPERM';
  }
}

/**
 * Finishes or undoes a replacement a killed run left half done, and removes its
 * staging folders. After it, `dir` holds the old model or the new one, whole.
 */
export async function recoverOutputDir(dir: string): Promise<void> {
  dir = resolve(dir);
  const parent = dirname(dir);
  const entries = await readdir(parent).catch(() => [] as string[]);
  const mine = entries.map((e) => LEFTOVER.exec(e)).filter((m): m is RegExpExecArray => !!m && m[1] === basename(dir) && !isAlive(Number(m[3])));
  if (!mine.length) return;
  if (!(await exists(dir))) {
    // Killed between the two renames: the ready folder is complete, so roll forward; else back.
    const ready = mine.find((m) => m[2] === 'ready');
    const old = mine.find((m) => m[2] === 'old');
    const from = ready ?? old;
    if (from) await rename(join(parent, from[0]), dir);
  }
  // A cache moved into the staged folder before the kill goes back to the folder in use.
  for (const m of mine) await rename(join(parent, m[0], KEPT), join(dir, KEPT)).catch(() => undefined);
  for (const m of mine) await rm(join(parent, m[0]), { recursive: true, force: true });
}

/** The top-level entries of `dir` that edgetune did not write. */
/** The model card: edgetune's only beside a model it wrote, so a folder holding just someone's README.md stays theirs. */
const CARD = 'README.md';
const MODEL_MARKERS = ['edgetune.json', 'model.onnx', 'model.tflite'];

async function foreignEntries(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  const model = names.some((n) => MODEL_MARKERS.includes(n));
  return names.filter((name) => !EDGETUNE_NAMES.has(name) && !(model && name === CARD));
}

/**
 * Checks, before any work, that `dir` may receive edgetune's files: it does not
 * exist (and its parent is a writable folder), or it is an empty folder or one
 * holding only files edgetune writes. Never a file, a link, a mount point, or a
 * folder inside or around `protect` (the data being trained on, the model being read).
 *
 * @throws EdgetuneError INVALID_ARGUMENT naming the folder and what to do.
 */
export async function checkOutputDir(dir: string, option: string, protect: string[] = []): Promise<void> {
  dir = resolve(dir);
  const refuse = (why: string) => {
    throw new EdgetuneError('INVALID_ARGUMENT', `${option} ${dir}: ${why}`);
  };
  for (const p of protect.map((x) => resolve(x))) {
    if (dir === p) refuse(`is the folder being read (${p}); pick a new folder`);
    if (p.startsWith(dir + sep)) refuse(`holds ${p}, which is being read; pick a new folder`);
    if (dir.startsWith(p + sep)) refuse(`is inside ${p}, which is being read; pick a folder outside it`);
  }
  await recoverOutputDir(dir);
  const own = await lstat(dir).catch((err) => (code(err) === 'ENOENT' ? null : refuse(`cannot be inspected (${(err as Error).message})`)));
  if (!own) {
    const parent = dirname(dir);
    const ps = await stat(parent).catch(() => null);
    if (!ps) refuse(`its parent folder ${parent} does not exist`);
    if (!ps!.isDirectory()) refuse(`${parent} is not a folder`);
    await probeWritable(dir, refuse);
    return;
  }
  if (own.isSymbolicLink()) refuse('is a symbolic link; give the folder it points to, or a new folder');
  if (!own.isDirectory()) refuse('is a file, not a folder; pick a new folder');
  const foreign = await foreignEntries(dir);
  if (foreign.length) {
    const list = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? `, and ${foreign.length - 3} more` : '');
    refuse(`holds files edgetune did not write (${list}); edgetune writes only into a new folder, an empty one or an edgetune model folder, so nothing of yours is replaced. Pick another folder`);
  }
  const parentStat = await stat(dirname(dir));
  if (parentStat.dev !== own.dev) refuse('is a mount point, which cannot be replaced atomically; use a folder inside it');
  await probeWritable(dir, refuse);
}

/**
 * Makes and removes the staging folder now: a parent that is read-only, full, or a
 * filesystem that takes no folders (/proc) is found before the run, not after it.
 */
async function probeWritable(dir: string, refuse: (why: string) => never): Promise<void> {
  const probe = staging(dir, 'new');
  try {
    await mkdir(probe);
  } catch (err) {
    if (code(err) !== 'EEXIST') refuse(`cannot create folders in ${dirname(dir)} (${code(err) ?? (err as Error).message})`);
  }
  await rm(probe, { recursive: true, force: true });
}

/** Writes each file under `root`, refusing names that would leave it. */
async function writeAll(root: string, files: ModelFiles): Promise<void> {
  for (const [name, bytes] of Object.entries(files)) {
    const parts = name.split('/');
    if (!name || name.startsWith('/') || parts.some((p) => p === '..' || p === '.' || p === '' || p.includes('\\'))) {
      throw new EdgetuneError('INVALID_ARGUMENT', `Refusing model file name '${name}'`);
    }
    const path = join(root, ...parts);
    await mkdirs(dirname(path));
    await writeFile(path, bytes);
  }
}

/**
 * Replaces `dir` with exactly `files` (its cache/ kept), atomically and
 * recoverably. `dir` must pass checkOutputDir; this checks again, so a folder that
 * gained a user's file meanwhile is still refused.
 *
 * @throws EdgetuneError INVALID_ARGUMENT (see checkOutputDir), SAVE_FAILED naming the path.
 */
export async function replaceOutputDir(dir: string, files: ModelFiles, option = 'the output folder'): Promise<void> {
  dir = resolve(dir);
  await checkOutputDir(dir, option);
  const [fresh, ready, old] = [staging(dir, 'new'), staging(dir, 'ready'), staging(dir, 'old')];
  try {
    await rm(fresh, { recursive: true, force: true });
    await writeAll(fresh, files);
    await rename(fresh, ready);
    if (await exists(dir)) {
      await rename(join(dir, KEPT), join(ready, KEPT)).catch(() => undefined);
      await rename(dir, old);
    }
    await rename(ready, dir);
    await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(fresh, { recursive: true, force: true }).catch(() => undefined);
    // Failed between the two renames: the old folder goes back.
    if (!(await exists(dir))) await rename(old, dir).catch(() => undefined);
    if (await exists(dir)) {
      await rename(join(ready, KEPT), join(dir, KEPT)).catch(() => undefined);
      await rm(ready, { recursive: true, force: true }).catch(() => undefined);
    }
    if (err instanceof EdgetuneError) throw err;
    throw new EdgetuneError('SAVE_FAILED', `Cannot write ${dir}: ${(err as Error).message}`, { cause: err });
  }
}
