// Creating a folder and its missing parents. Node 20's mkdir({ recursive: true })
// never returns when the kernel answers ENOENT for a child of a folder that exists
// (/proc, some FUSE and network mounts): it retries the same path forever, at full CPU.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

const code = (err: unknown) => (err as NodeJS.ErrnoException)?.code;

/**
 * mkdir -p: walks up to the first level that exists or can be made, then creates
 * the rest once each; a level that still cannot be made throws its error.
 */
export async function mkdirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    try {
      await mkdir(d);
      break;
    } catch (err) {
      if (code(err) === 'EEXIST') break;
      if (code(err) !== 'ENOENT' || dirname(d) === d) throw err;
      missing.push(d);
    }
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
    }
  }
}
