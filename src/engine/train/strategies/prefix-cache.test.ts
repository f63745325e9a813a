// The fp16 activation cache of the tail strategies: the byte budget, reads and
// writes, what survives a run (retain), and the persistent store behind it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHalf } from '../../util/fp16.js';
import { PrefixCache } from './prefix-cache.js';

/** An in-memory EmbeddingStore that records its calls. */
function store(initial: Record<string, Uint8Array> = {}) {
  const data = new Map(Object.entries(initial));
  const calls = { get: [] as string[][], put: [] as string[][] };
  return {
    data,
    calls,
    getMany: async (keys: string[]) => (calls.get.push(keys), keys.map((k) => data.get(k))),
    putMany: async (entries: [string, Uint8Array][]) => {
      calls.put.push(entries.map(([k]) => k));
      for (const [k, v] of entries) data.set(k, v.slice());
    },
  };
}
const halves = (...v: number[]) => new Uint8Array(new Uint16Array(v.map((x) => (x === 1 ? 0x3c00 : x === 2 ? 0x4000 : 0))).buffer);

describe('PrefixCache', () => {
  it('stores views as fp16 within the budget, counting bytes, and reads them back', () => {
    const c = new PrefixCache(10);
    assert.equal(c.budgetBytes, 10);
    assert.equal(new PrefixCache().budgetBytes, 256 * 2 ** 20);
    assert.equal(c.put('a', Float32Array.of(1, 2)), true);
    assert.equal(c.sizeBytes, 4);
    assert.equal(c.put('a', Float32Array.of(9, 9, 9, 9, 9, 9)), true, 'already there: kept as it was');
    assert.equal(c.sizeBytes, 4);
    assert.equal(c.put('b', Float32Array.of(1, 1, 1)), true);
    assert.equal(c.sizeBytes, 10, 'exactly the budget');
    assert.equal(c.put('c', Float32Array.of(1)), false, 'over the budget: not stored');
    assert.equal(c.has('c'), false);
    assert.equal(c.sizeBytes, 10);
    const out = new Float32Array(5).fill(-1);
    assert.equal(c.read('a', out, 2), true);
    assert.deepEqual(Array.from(out), [-1, -1, 1, 2, -1]);
    assert.equal(c.read('zz', out, 0), false);
    assert.deepEqual(Array.from(fromHalf(c.halves('b')!)), [1, 1, 1]);
    assert.equal(c.halves('zz'), undefined);
    assert.equal(c.capacity(3), 1, 'views of 3 floats (6 bytes) in 10 bytes');
    assert.equal(c.capacity(2), 2);
  });

  it('retain drops the views of other runs and frees their bytes; clear empties it', () => {
    const c = new PrefixCache(100);
    c.put('a', Float32Array.of(1, 2));
    c.put('b', Float32Array.of(1, 2, 3));
    c.retain(new Set(['b', 'x']));
    assert.deepEqual([c.has('a'), c.has('b'), c.sizeBytes], [false, true, 6]);
    c.clear();
    assert.deepEqual([c.has('b'), c.sizeBytes], [false, 0]);
    assert.equal(c.put('c', Float32Array.of(1)), true);
  });

  it('preloads what the store has, within the budget, skipping what it holds and odd-sized entries', async () => {
    const s = store({ a: halves(1, 2), b: halves(2), odd: new Uint8Array(3), big: halves(1, 1, 1, 1) });
    const c = new PrefixCache(8, s);
    assert.equal(c.persistent, true);
    assert.equal(new PrefixCache(8).persistent, false);
    c.put('b', Float32Array.of(1));
    assert.equal(await c.preload(['a', 'b', 'odd', 'missing', 'big']), 1);
    assert.deepEqual(s.calls.get, [['a', 'odd', 'missing', 'big']], 'b was held already');
    assert.deepEqual(Array.from(fromHalf(c.halves('a')!)), [1, 2]);
    assert.deepEqual([c.has('odd'), c.has('missing'), c.has('big'), c.sizeBytes], [false, false, false, 6]);
    assert.equal(await c.preload([]), 0);
    assert.equal(await new PrefixCache(8).preload(['a']), 0, 'no store');
    assert.equal(s.calls.get.length, 1);
  });

  it('preloads in chunks of 256 keys', async () => {
    const keys = Array.from({ length: 600 }, (_, i) => `k${i}`);
    const s = store(Object.fromEntries(keys.map((k) => [k, halves(1)])));
    const c = new PrefixCache(1 << 20, s);
    assert.equal(await c.preload(keys), 600);
    assert.deepEqual(s.calls.get.map((k) => k.length), [256, 256, 88]);
    assert.equal(c.sizeBytes, 1200);
  });

  it('persists the entries it holds, and nothing without a store', async () => {
    const s = store();
    const c = new PrefixCache(100, s);
    c.put('a', Float32Array.of(1, 2));
    await c.persist(['a', 'missing']);
    assert.deepEqual(s.calls.put, [['a']]);
    assert.deepEqual(Array.from(fromHalf(new Uint16Array(s.data.get('a')!.buffer))), [1, 2]);
    await c.persist(['missing']);
    assert.equal(s.calls.put.length, 1, 'nothing to write, no call');
    await new PrefixCache(100).persist(['a']);
  });
});
