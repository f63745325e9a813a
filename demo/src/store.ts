// The demo's own IndexedDB store: class names and example images (JPEG blobs),
// so classes survive a reload and can be retrained. The model itself is saved
// by the SDK (clf.save('indexeddb://…')).
const DB = 'edgetune-demo';

export interface StoredExample {
  id?: number;
  label: string;
  blob: Blob;
  /** 'val' pins the example to the validation set (a dropped val/ folder); absent means train. */
  split?: 'val';
}

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore('classes');
      db.createObjectStore('examples', { keyPath: 'id', autoIncrement: true }).createIndex('label', 'label');
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let dbPromise: Promise<IDBDatabase> | undefined;
const db = () => (dbPromise ??= open());

async function tx<T>(stores: string[], mode: IDBTransactionMode, body: (t: IDBTransaction) => IDBRequest<T> | void): Promise<T | undefined> {
  const t = (await db()).transaction(stores, mode);
  const req = body(t);
  return new Promise((resolve, reject) => {
    t.oncomplete = () => resolve(req ? req.result : undefined);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

export async function loadClasses(): Promise<string[]> {
  return ((await tx(['classes'], 'readonly', (t) => t.objectStore('classes').get('names'))) as string[] | undefined) ?? [];
}

export async function saveClasses(names: string[]): Promise<void> {
  await tx(['classes'], 'readwrite', (t) => void t.objectStore('classes').put(names, 'names'));
}

/** Stores the blobs; returns their record ids, in order (the demo names each SDK example by its id). */
export async function addExamples(label: string, blobs: Blob[], split?: 'val'): Promise<number[]> {
  const ids: number[] = [];
  await tx(['examples'], 'readwrite', (t) => {
    const s = t.objectStore('examples');
    blobs.forEach((blob, i) => {
      const req = s.add(split ? { label, blob, split } : { label, blob });
      req.onsuccess = () => (ids[i] = req.result as number);
    });
  });
  return ids;
}

export async function getExample(id: number): Promise<StoredExample | undefined> {
  return (await tx(['examples'], 'readonly', (t) => t.objectStore('examples').get(id))) as StoredExample | undefined;
}

/** Deletes records, or relabels them when `to` is given (inspect's fixes). */
export async function editExamples(ids: number[], to?: string): Promise<void> {
  await tx(['examples'], 'readwrite', (t) => {
    const s = t.objectStore('examples');
    for (const id of ids) {
      if (to === undefined) s.delete(id);
      else {
        const req = s.get(id);
        req.onsuccess = () => req.result && s.put({ ...(req.result as StoredExample), label: to });
      }
    }
  });
}

export async function allExamples(): Promise<StoredExample[]> {
  return ((await tx(['examples'], 'readonly', (t) => t.objectStore('examples').getAll())) as StoredExample[] | undefined) ?? [];
}

/** Deletes a class's examples, or relabels them when `to` is given (rename). */
export async function moveClass(from: string, to?: string): Promise<void> {
  await tx(['examples'], 'readwrite', (t) => {
    const cursor = t.objectStore('examples').index('label').openCursor(IDBKeyRange.only(from));
    cursor.onsuccess = () => {
      const c = cursor.result;
      if (!c) return;
      if (to === undefined) c.delete();
      else c.update({ ...(c.value as StoredExample), label: to });
      c.continue();
    };
  });
}

export async function clearAll(): Promise<void> {
  await tx(['classes', 'examples'], 'readwrite', (t) => {
    t.objectStore('classes').clear();
    t.objectStore('examples').clear();
  });
}
