// Model persistence inside the worker: IndexedDB records and model folders on a URL.
// A save is one put in one transaction: the previous version stays until the new
// one is committed whole, so a crash or a quota error never leaves no loadable model.
import { EdgetuneError } from '../errors.js';
import type { ModelFiles } from '../types.js';
import { defaultFetcher, METADATA_MAX_BYTES, resolveAllowed } from '../engine/model/fetch.js';

const DB = 'edgetune';
const STORE = 'models';
const PREFIX = 'indexeddb://';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new EdgetuneError('SAVE_FAILED', `Cannot open IndexedDB: ${req.error?.message}`));
  });
}

export function isIndexedDbUrl(url: string): boolean {
  return url.startsWith(PREFIX);
}

function keyOf(url: string): string {
  const key = url.slice(PREFIX.length);
  if (!key) throw new EdgetuneError('INVALID_ARGUMENT', `'${url}' names no model: use indexeddb://<name>`);
  return key;
}

/** Saves model files under indexeddb://<name>, replacing the previous version atomically. */
export async function saveToIndexedDb(url: string, files: ModelFiles): Promise<void> {
  const key = keyOf(url);
  const db = await open();
  try {
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      tx.objectStore(STORE).put({ files, savedAt: new Date().toISOString() }, key);
      tx.oncomplete = () => resolve();
      const fail = () => {
        const err = tx.error;
        reject(
          err?.name === 'QuotaExceededError'
            ? new EdgetuneError('QUOTA_EXCEEDED', `Storage quota exceeded saving '${url}'; the previous version is kept`, { cause: err })
            : new EdgetuneError('SAVE_FAILED', `Cannot save '${url}': ${err?.message ?? 'transaction aborted'}; the previous version is kept`, { cause: err }),
        );
      };
      tx.onerror = fail;
      tx.onabort = fail;
    });
  } finally {
    db.close();
  }
}

export async function loadFromIndexedDb(url: string): Promise<ModelFiles> {
  const key = keyOf(url);
  const db = await open();
  try {
    const record = await new Promise<{ files: ModelFiles } | undefined>((resolve, reject) => {
      const req = db.transaction(STORE, 'readonly').objectStore(STORE).get(key);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(new EdgetuneError('MODEL_LOAD_FAILED', `Cannot read '${url}': ${req.error?.message}`));
    });
    if (!record?.files) throw new EdgetuneError('MODEL_LOAD_FAILED', `No model saved at '${url}'`);
    return record.files;
  } finally {
    db.close();
  }
}

/** Loads an exported model folder from a URL (the folder, or its edgetune.json). */
export async function loadFromUrl(url: string, allowedOrigins: string[] = []): Promise<ModelFiles> {
  const base = new URL(url.endsWith('edgetune.json') ? url : url.replace(/\/?$/, '/edgetune.json'), self.location.href);
  const policy = { allowedOrigins };
  const metaBytes = await defaultFetcher(base, METADATA_MAX_BYTES);
  let listed: Record<string, { bytes?: unknown }>;
  try {
    listed = JSON.parse(new TextDecoder().decode(metaBytes)).files ?? {};
  } catch {
    throw new EdgetuneError('MODEL_LOAD_FAILED', `${base.href} is not valid JSON`);
  }
  const files: ModelFiles = { 'edgetune.json': metaBytes };
  // Each file at most the size edgetune.json declares (the hash check follows on import).
  await Promise.all(
    Object.entries(listed).map(async ([n, f]) => {
      const max = Number.isInteger(f?.bytes) ? (f.bytes as number) : 0;
      files[n] = await defaultFetcher(resolveAllowed(n, base, base.origin, policy), max);
    }),
  );
  return files;
}
