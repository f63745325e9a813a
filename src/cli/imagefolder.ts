// ImageFolder datasets, as torchvision reads them: <root>/<class>/<image> or
// <root>/{train,val,test}/<class>/<image>. Files beside class folders
// (manifest.csv and the like) are ignored.
import { readdir, realpath, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { EdgetuneError } from '../errors.js';
import { IMAGE_EXTENSIONS } from '../node/decode.js';

export type ClassFiles = Map<string, string[]>;

export interface ImageFolder {
  root: string;
  /** 'split' when train/val/test folders exist, else 'flat' (<root>/<class>/*). */
  layout: 'split' | 'flat';
  train: ClassFiles;
  val?: ClassFiles;
  test?: ClassFiles;
  /** Files inside class folders that are not images, ignored. */
  ignored: string[];
}

const SPLITS = ['train', 'val', 'test'] as const;

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

/** A directory entry's name, or null when it is not valid UTF-8 (a Latin-1 name from an old archive). */
function utf8Name(raw: Buffer): string | null {
  const name = raw.toString('utf8');
  return Buffer.from(name, 'utf8').equals(raw) ? name : null;
}

/** How a name that is not UTF-8 is shown: its bytes, the non-ASCII ones escaped. */
const shown = (raw: Buffer) => [...raw].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');

/**
 * Class folders under `path`, symbolic links to folders included (datasets are often
 * assembled from links); two names leading to one real folder are refused, so a
 * link loop or a doubled class cannot train on the same images twice.
 */
async function subdirs(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true, encoding: 'buffer' });
  const names: string[] = [];
  const real = new Map<string, string>();
  for (const e of entries) {
    const name = utf8Name(e.name);
    if (name === null) {
      const full = join(path, e.name.toString('latin1'));
      if (e.isDirectory() || (e.isSymbolicLink() && (await isDir(full)))) {
        throw new EdgetuneError('INVALID_DATASET', `${path}: the class folder name '${shown(e.name)}' is not valid UTF-8; rename it`);
      }
      continue;
    }
    if (name.startsWith('.')) continue;
    const full = join(path, name);
    if (!(e.isDirectory() || (e.isSymbolicLink() && (await isDir(full))))) continue;
    const target = await realpath(full);
    const twin = real.get(target);
    if (twin !== undefined) throw new EdgetuneError('INVALID_DATASET', `${path}: class folders '${twin}' and '${name}' are the same folder (${target})`);
    real.set(target, name);
    names.push(name);
  }
  checkNameClash(path, names);
  return names.sort();
}

/** Folder names that differ only by surrounding whitespace would become one label. */
function checkNameClash(path: string, names: string[]): void {
  const seen = new Map<string, string>();
  for (const n of names) {
    const key = n.trim();
    const other = seen.get(key);
    if (other !== undefined) {
      throw new EdgetuneError('INVALID_DATASET', `${path}: class folders ${JSON.stringify(other)} and ${JSON.stringify(n)} differ only by surrounding spaces; rename one`);
    }
    seen.set(key, n);
  }
}

/** Lists the image files of every class folder under `dir`, sorted for reproducibility. */
export async function readClassFolders(dir: string, ignored: string[]): Promise<ClassFiles> {
  const classes: ClassFiles = new Map();
  for (const name of await subdirs(dir)) {
    const files: string[] = [];
    const entries = await readdir(join(dir, name), { withFileTypes: true, encoding: 'buffer' });
    for (const e of entries.sort((a, b) => Buffer.compare(a.name, b.name))) {
      const fileName = utf8Name(e.name);
      if (fileName === null) {
        ignored.push(`${join(dir, name, shown(e.name))} (its name is not valid UTF-8; rename it)`);
        continue;
      }
      const path = join(dir, name, fileName);
      // Symlinked files count as files (datasets are often assembled from links).
      const isFile = e.isFile() || (e.isSymbolicLink() && (await stat(path).catch(() => null))?.isFile());
      if (!isFile || fileName.startsWith('.')) continue;
      (IMAGE_EXTENSIONS.includes(extname(fileName).toLowerCase()) ? files : ignored).push(path);
    }
    classes.set(name, files.sort((a, b) => a.localeCompare(b)));
  }
  return classes;
}

function checkClasses(where: string, classes: ClassFiles, minClasses: number): void {
  if (classes.size === 0) {
    throw new EdgetuneError('INVALID_DATASET', `${where}: no class folders (expected ${where}/<class>/<image>)`);
  }
  for (const [label, files] of classes) {
    if (files.length === 0) {
      throw new EdgetuneError('INVALID_DATASET', `${where}/${label}: class has no images (${IMAGE_EXTENSIONS.join(', ')})`);
    }
  }
  if (classes.size < minClasses) {
    throw new EdgetuneError('TOO_FEW_CLASSES', `${where}: found only class '${[...classes.keys()][0]}'; training needs at least two classes`);
  }
}

/**
 * Reads an ImageFolder dataset.
 * @param minClasses classes required in the training part (2 to train, 1 to evaluate).
 * @throws EdgetuneError INVALID_DATASET, TOO_FEW_CLASSES
 */
export async function readImageFolder(root: string, minClasses = 2): Promise<ImageFolder> {
  if (!(await isDir(root))) {
    const exists = await stat(root).then(() => true, () => false);
    throw new EdgetuneError('INVALID_DATASET', `${root}: ${exists ? 'not a folder (expected an ImageFolder: <data>/<class>/<image>)' : 'no such directory'}`);
  }
  const ignored: string[] = [];
  const present: (typeof SPLITS)[number][] = [];
  for (const s of SPLITS) if (await isDir(join(root, s))) present.push(s);
  if (present.length === 0) {
    const train = await readClassFolders(root, ignored);
    checkClasses(root, train, minClasses);
    return { root, layout: 'flat', train, ignored };
  }
  const folder: ImageFolder = { root, layout: 'split', train: new Map(), ignored };
  for (const s of present) {
    const classes = await readClassFolders(join(root, s), ignored);
    checkClasses(join(root, s), classes, s === 'train' ? minClasses : 1);
    folder[s] = classes;
  }
  return folder;
}

/** [{ label, path }] for every image of a split. */
export function listImages(classes: ClassFiles): { label: string; path: string }[] {
  return [...classes].flatMap(([label, files]) => files.map((path) => ({ label, path })));
}
