// ImageFolder datasets, as torchvision reads them: <root>/<class>/<image> or
// <root>/{train,val,test}/<class>/<image>. Files beside class folders
// (manifest.csv and the like) are ignored.
import { readdir, stat } from 'node:fs/promises';
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

async function subdirs(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
}

/** Lists the image files of every class folder under `dir`, sorted for reproducibility. */
export async function readClassFolders(dir: string, ignored: string[]): Promise<ClassFiles> {
  const classes: ClassFiles = new Map();
  for (const name of await subdirs(dir)) {
    const files: string[] = [];
    for (const e of (await readdir(join(dir, name), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, name, e.name);
      // Symlinked files count as files (datasets are often assembled from links).
      const isFile = e.isFile() || (e.isSymbolicLink() && (await stat(path).catch(() => null))?.isFile());
      if (!isFile || e.name.startsWith('.')) continue;
      (IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()) ? files : ignored).push(path);
    }
    classes.set(name, files);
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
  if (!(await isDir(root))) throw new EdgetuneError('INVALID_DATASET', `${root}: no such directory`);
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
