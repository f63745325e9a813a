// Checks the CLI makes before any work, and what it does with what users give it
// back (signals, names printed to a terminal, cells of a CSV).
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { EdgetuneError } from '../errors.js';
import type { ImageFolder } from './imagefolder.js';

/** --cache-dir: a folder, or a new one whose parent is a folder. */
export async function checkCacheDir(dir: string): Promise<void> {
  const s = await stat(dir).catch(() => null);
  if (s && !s.isDirectory()) throw new EdgetuneError('INVALID_ARGUMENT', `--cache-dir ${resolve(dir)}: is a file, not a folder`);
  if (!s && !(await stat(dirname(resolve(dir))).catch(() => null))?.isDirectory()) {
    throw new EdgetuneError('INVALID_ARGUMENT', `--cache-dir ${resolve(dir)}: its parent folder does not exist`);
  }
}

/** val/ and test/ classes must be classes of train/: found now, not after the training. */
export function checkSplitClasses(folder: ImageFolder): void {
  const known = new Set(folder.train.keys());
  for (const split of ['val', 'test'] as const) {
    const extra = [...(folder[split]?.keys() ?? [])].filter((c) => !known.has(c));
    if (extra.length) {
      throw new EdgetuneError('INVALID_DATASET', `${folder.root}/${split} has classes that train/ lacks: ${extra.map(terminalSafe).join(', ')} (train has ${[...known].map(terminalSafe).join(', ')})`);
    }
  }
}

/** --csv: a file in an existing folder, not a folder; checked before any prediction is made. */
export async function checkCsvPath(path: string): Promise<void> {
  const s = await stat(path).catch(() => null);
  if (s?.isDirectory()) throw new EdgetuneError('INVALID_ARGUMENT', `--csv ${resolve(path)}: is a folder; give a file name`);
  if (!(await stat(dirname(resolve(path))).catch(() => null))?.isDirectory()) {
    throw new EdgetuneError('INVALID_ARGUMENT', `--csv ${resolve(path)}: its folder does not exist`);
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * SIGINT, SIGTERM (timeout, docker stop, a cancelled CI job) and SIGHUP abort the
 * run through `abort`, so it cleans up like any failure. release() removes the
 * handlers; rethrow() then re-raises the signal, so the exit status says which.
 */
export function stopOnSignals(abort: AbortController): { release(): void; rethrow(): void } {
  let received: NodeJS.Signals | null = null;
  const on = (sig: NodeJS.Signals) => {
    received ??= sig;
    abort.abort();
  };
  for (const sig of SIGNALS) process.on(sig, on);
  return {
    release: () => SIGNALS.forEach((sig) => process.off(sig, on)),
    rethrow: () => {
      if (received) process.kill(process.pid, received);
    },
  };
}

/** A name as a terminal shows it: control characters (ESC, newlines, bidi overrides) escaped. */
export function terminalSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * One CSV cell: RFC 4180 quoting, and a cell that a spreadsheet would run as a
 * formula (first character =, +, -, @, tab or carriage return) gets a leading
 * apostrophe, OWASP's rule for CSV injection. Numbers are written as numbers.
 */
export function csvCell(v: string | number | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'number') return String(v);
  const s = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * --quiet: what libraries print on the console (tfjs' backend banners and warnings)
 * is dropped while `run` runs; edgetune's own errors still reach stderr through the CLI's output.
 */
export async function withQuietConsole<T>(quiet: boolean, run: () => Promise<T>): Promise<T> {
  if (!quiet) return run();
  const saved = { log: console.log, info: console.info, warn: console.warn, debug: console.debug };
  const drop = () => undefined;
  Object.assign(console, { log: drop, info: drop, warn: drop, debug: drop });
  try {
    return await run();
  } finally {
    Object.assign(console, saved);
  }
}
