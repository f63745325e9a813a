// The worker entry names every file it loads by default as a literal that app
// bundlers can see. Those names must be exactly the package's files: the .wasm
// binaries tfjs-backend-wasm ships and each bundled backbone's manifest and files.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BUNDLED_BACKBONES } from '../engine/model/manifest.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const entry = readFileSync(new URL('./entry.ts', import.meta.url), 'utf8');

/** Each `'key': new URL('rel', import.meta.url)` pair of the entry's table. */
const pairs = [...entry.matchAll(/'([^']+)': new URL\('([^']+)', import\.meta\.url\)/g)].map((m) => ({ key: m[1]!, rel: m[2]! }));

describe('the worker entry names the package files', () => {
  it('lists every .wasm binary and every file of every bundled backbone, nothing else', () => {
    const wasm = readdirSync(`${ROOT}node_modules/@tensorflow/tfjs-backend-wasm/dist`).filter((f) => f.endsWith('.wasm')).map((f) => `dist/wasm/${f}`);
    const models = BUNDLED_BACKBONES.flatMap((id) => {
      const manifest = JSON.parse(readFileSync(`${ROOT}models/${id}/manifest.json`, 'utf8')) as { files: Record<string, unknown> };
      return [`models/${id}/manifest.json`, ...Object.keys(manifest.files).map((f) => `models/${id}/${f}`)];
    });
    assert.deepEqual(pairs.map((p) => p.key).sort(), [...wasm, ...models].sort());
  });

  it("resolves each literal from dist/worker.js to its key's place in the package", () => {
    for (const { key, rel } of pairs) assert.equal(new URL(rel, 'file:///pkg/dist/worker.js').pathname, `/pkg/${key}`, key);
  });
});
