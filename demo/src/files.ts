// Files and folders people give the demo: drag-and-drop (files or whole
// folders) and folder pickers, read as ImageFolder layouts the way the CLI
// reads them: <class>/<image> or {train,val,test}/<class>/<image>.

export interface DroppedFile {
  file: File;
  /** Folder names from the drop (or picked) root down to the file. */
  dirs: string[];
}

/** Images only: other files in a folder (manifest.csv, .DS_Store) are passed over, as the CLI does. */
const isImage = (f: File) => f.type.startsWith('image/');

/** Every image under the dropped items, walking dropped folders recursively. */
export async function filesOf(items: DataTransferItemList): Promise<DroppedFile[]> {
  const out: DroppedFile[] = [];
  const walk = async (entry: FileSystemEntry, dirs: string[]): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
      if (isImage(file)) out.push({ file, dirs });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      // readEntries returns at most 100 entries per call: read until it returns none.
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e, [...dirs, entry.name]);
      }
    }
  };
  // Entries must be taken synchronously, before the drop event's data store closes.
  const entries = [...items].map((it) => it.webkitGetAsEntry()).filter((e): e is FileSystemEntry => !!e);
  await Promise.all(entries.map((e) => walk(e, [])));
  return out;
}

/** Files from an `<input webkitdirectory>` (or a plain multi-file input), with their folders. */
export const pickedFiles = (files: FileList | null): DroppedFile[] =>
  [...(files ?? [])].filter(isImage).map((file) => ({ file, dirs: file.webkitRelativePath.split('/').slice(0, -1) }));

/** Calls `onFiles` with what is dropped on `target`, highlighting it while something is dragged over. */
export function bindDrop(target: HTMLElement, onFiles: (files: DroppedFile[]) => Promise<void>, onError: (err: unknown) => void): void {
  target.addEventListener('dragover', (e) => {
    e.preventDefault();
    e.stopPropagation();
    target.classList.add('dragover');
  });
  target.addEventListener('dragleave', () => target.classList.remove('dragover'));
  target.addEventListener('drop', (e) => {
    e.preventDefault();
    e.stopPropagation();
    target.classList.remove('dragover');
    if (!e.dataTransfer) return;
    filesOf(e.dataTransfer.items).then(onFiles).catch(onError);
  });
}

export type Split = 'train' | 'val' | 'test';
const SPLIT = /^(train|val|test)$/i;

/** The split folder above the class folder, if the layout has one. */
function splitOf(dirs: string[]): Split | undefined {
  const s = dirs.length >= 2 ? dirs[dirs.length - 2]! : '';
  return SPLIT.test(s) ? (s.toLowerCase() as Split) : undefined;
}

export interface ImageFolderGroups {
  /** 'split' when the files sit under train/val/test folders. */
  layout: 'flat' | 'split';
  /** label -> files, per split ('train' holds a flat layout's files). */
  splits: Partial<Record<Split, Map<string, File[]>>>;
}

/** Groups files by class (their parent folder) and split, as torchvision's ImageFolder does. */
export function imageFolder(files: DroppedFile[]): ImageFolderGroups {
  const layout = files.some((f) => splitOf(f.dirs)) ? 'split' : 'flat';
  const splits: ImageFolderGroups['splits'] = {};
  for (const { file, dirs } of files) {
    const label = dirs[dirs.length - 1];
    if (!label) continue; // a loose file beside the class folders
    const split = layout === 'split' ? splitOf(dirs) : 'train';
    if (!split) continue;
    const byLabel = (splits[split] ??= new Map());
    (byLabel.get(label) ?? byLabel.set(label, []).get(label)!).push(file);
  }
  // Folder listings come in file-system order: sort classes and files, as the CLI does.
  for (const [split, byLabel] of Object.entries(splits) as [Split, Map<string, File[]>][]) {
    splits[split] = new Map([...byLabel].sort(([a], [b]) => a.localeCompare(b)).map(([l, fs]) => [l, fs.sort((x, y) => x.name.localeCompare(y.name))]));
  }
  return { layout, splits };
}

/**
 * What "Evaluate a folder" scores, as `edgetune eval` does: the test split of a
 * train/val/test folder, or every class folder of a flat one.
 */
export function evaluationSet(files: DroppedFile[]): { label: string; image: File }[] {
  const { layout, splits } = imageFolder(files);
  const groups = layout === 'split' ? splits.test : splits.train;
  if (!groups?.size) {
    throw new Error(
      layout === 'split' ? 'the folder has no test/<class>/<image> split to evaluate' : 'no images inside class folders (expected <class>/<image>)',
    );
  }
  return [...groups].flatMap(([label, imgs]) => imgs.map((image) => ({ label, image })));
}
