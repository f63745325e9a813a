// The browser's persistent embedding store: IndexedDB, fp16 entries keyed by
// backbone + manifest hash + preprocessing version + image hash + view, so a
// page reload retrains without a single backbone forward pass. A byte budget
// with least-recently-used eviction keeps it from growing without bound.
import type { EmbeddingStore } from '../engine/data/embed-cache.js';

const DB = 'edgetune-cache';
/** key -> fp16 bytes. */
const DATA = 'data';
/** key -> { size, t }: scanned for eviction without reading the bytes. */
const LRU = 'lru';

interface Use {
  key: string;
  size: number;
  /** Last use (ms since epoch): the LRU order. */
  t: number;
}

export class IdbEmbeddingStore implements EmbeddingStore {
  private db: Promise<IDBDatabase> | undefined;

  /** @param budgetBytes total size kept; least recently used entries go first. @default 512 MiB */
  constructor(readonly budgetBytes = 512 * 1024 * 1024) {}

  private open(): Promise<IDBDatabase> {
    return (this.db ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => {
        req.result.createObjectStore(DATA);
        req.result.createObjectStore(LRU, { keyPath: 'key' }).createIndex('t', 't');
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    }));
  }

  private async run<T>(mode: IDBTransactionMode, body: (data: IDBObjectStore, lru: IDBObjectStore) => T): Promise<T> {
    const t = (await this.open()).transaction([DATA, LRU], mode);
    const out = body(t.objectStore(DATA), t.objectStore(LRU));
    await new Promise<void>((resolve, reject) => {
      t.oncomplete = () => resolve();
      t.onerror = t.onabort = () => reject(t.error);
    });
    return out;
  }

  async getMany(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    const out: (Uint8Array | undefined)[] = new Array(keys.length);
    const now = Date.now();
    await this.run('readwrite', (data, lru) =>
      keys.forEach((key, i) => {
        const req = data.get(key);
        req.onsuccess = () => {
          const bytes = req.result as Uint8Array | undefined;
          if (!bytes) return;
          out[i] = bytes;
          lru.put({ key, size: bytes.byteLength, t: now } satisfies Use);
        };
      }),
    );
    return out;
  }

  async putMany(entries: [string, Uint8Array][]): Promise<void> {
    if (!entries.length) return;
    const t = Date.now();
    await this.run('readwrite', (data, lru) =>
      entries.forEach(([key, bytes]) => {
        data.put(bytes.slice(), key);
        lru.put({ key, size: bytes.byteLength, t } satisfies Use);
      }),
    );
    await this.evict();
  }

  /** Deletes least recently used entries until the store fits its budget. */
  private async evict(): Promise<void> {
    let total = 0;
    const order: { key: string; size: number }[] = [];
    await this.run('readonly', (_, lru) => {
      const cur = lru.index('t').openCursor();
      cur.onsuccess = () => {
        const c = cur.result;
        if (!c) return;
        const u = c.value as Use;
        total += u.size;
        order.push(u);
        c.continue();
      };
    });
    if (total <= this.budgetBytes) return;
    const drop: string[] = [];
    for (const o of order) {
      if (total <= this.budgetBytes) break;
      drop.push(o.key);
      total -= o.size;
    }
    await this.run('readwrite', (data, lru) =>
      drop.forEach((k) => {
        data.delete(k);
        lru.delete(k);
      }),
    );
  }

  async clear(): Promise<void> {
    await this.run('readwrite', (data, lru) => {
      data.clear();
      lru.clear();
    });
  }
}
