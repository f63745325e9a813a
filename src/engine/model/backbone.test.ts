import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { loadBackbone, packageModelBaseUrl } from './backbone.js';
import { selectBackend } from '../backend.js';
import type { FileFetcher } from './fetch.js';
import { isEdgetuneError } from '../../errors.js';

const manifestUrl = new URL('mobilenet_v2_140/manifest.json', packageModelBaseUrl());

/** Serves the real bundled files, with `patch` replacing some by URL suffix. */
function fetcherWith(patch: Record<string, (bytes: Uint8Array) => Uint8Array>, seen: string[] = []): FileFetcher {
  return async (url) => {
    seen.push(url.href);
    const bytes = new Uint8Array(await readFile(url));
    const key = Object.keys(patch).find((k) => url.pathname.endsWith(k));
    return key ? patch[key]!(bytes) : bytes;
  };
}

const editManifest = (edit: (m: Record<string, unknown>) => void) => (bytes: Uint8Array) => {
  const m = JSON.parse(new TextDecoder().decode(bytes));
  edit(m);
  return new TextEncoder().encode(JSON.stringify(m));
};

describe('selectBackend', () => {
  it('picks wasm first in Node and reports SIMD', async () => {
    const info = await selectBackend({ backends: ['wasm', 'cpu'] });
    assert.equal(info.name, 'wasm');
    assert.equal(info.details.simd, true);
  });

  it('records why WebGPU was skipped and falls back', async () => {
    const info = await selectBackend({ backends: ['webgpu', 'cpu'] });
    assert.equal(info.name, 'cpu');
    assert.match(info.reasons.webgpu!, /navigator\.gpu/);
    await selectBackend({ backends: ['wasm'] });
  });

  it('throws BACKEND_UNAVAILABLE listing every reason when nothing works', async () => {
    await assert.rejects(selectBackend({ backends: ['webgpu'] }), (e) => isEdgetuneError(e, 'BACKEND_UNAVAILABLE') && /\[webgpu\]/.test(e.message));
    await assert.rejects(selectBackend({ backends: ['tpu' as never] }), (e) => isEdgetuneError(e, 'INVALID_ARGUMENT') && /Valid backends/.test(e.message));
    await selectBackend({ backends: ['wasm'] });
  });
});

describe('loadBackbone', () => {
  before(async () => {
    await selectBackend({ backends: ['wasm'] });
  });

  it('loads both bundled backbones with their declared embedding sizes', async () => {
    for (const [id, dim] of [['mobilenet_v2_140', 1792], ['mobilenet_v2', 1280]] as const) {
      const bb = await loadBackbone(id);
      const y = tf.tidy(() => bb.embed(tf.zeros([2, 224, 224, 3])));
      assert.deepEqual(y.shape, [2, dim]);
      y.dispose();
      bb.dispose();
    }
  });

  it('rejects an unknown backbone id with UNKNOWN_BACKBONE, listing the bundled ones', async () => {
    await assert.rejects(loadBackbone('resnet50'), (e) => isEdgetuneError(e, 'UNKNOWN_BACKBONE') && /mobilenet_v2_140/.test(e.message));
  });

  it('rejects a weight shard whose bytes differ from the manifest with MODEL_INTEGRITY', async () => {
    const flip = (b: Uint8Array) => {
      const c = b.slice();
      c[1000]! ^= 1;
      return c;
    };
    await assert.rejects(
      loadBackbone(manifestUrl.href, { fetcher: fetcherWith({ 'group1-shard2of2.bin': flip }) }),
      (e) => isEdgetuneError(e, 'MODEL_INTEGRITY') && /sha256/.test(e.message),
    );
  });

  it('refuses a weight file larger than the manifest declares', async () => {
    const grow = (b: Uint8Array) => new Uint8Array([...b, 0, 0, 0, 0]);
    await assert.rejects(
      loadBackbone(manifestUrl.href, { fetcher: fetcherWith({ 'group1-shard2of2.bin': grow }) }),
      (e) => isEdgetuneError(e, 'MODEL_INTEGRITY') && /bytes, the manifest declares/.test(e.message),
    );
  });

  it('rejects a malformed model.json with MODEL_INTEGRITY before parsing it', async () => {
    await assert.rejects(
      loadBackbone(manifestUrl.href, { fetcher: fetcherWith({ 'model.json': () => new TextEncoder().encode('{"broken"') }) }),
      (e) => isEdgetuneError(e, 'MODEL_INTEGRITY'),
    );
  });

  it('will not fetch model files from another origin unless allowed (FORBIDDEN_ORIGIN)', async () => {
    const seen: string[] = [];
    const evil = editManifest((m) => {
      const files = m.files as Record<string, unknown>;
      m.modelUrl = 'https://elsewhere.example/model.json';
      files[m.modelUrl as string] = files['model.json'];
    });
    await assert.rejects(
      loadBackbone(manifestUrl.href, { fetcher: fetcherWith({ 'manifest.json': evil }, seen) }),
      (e) => isEdgetuneError(e, 'FORBIDDEN_ORIGIN') && /allowedOrigins/.test(e.message),
    );
    assert.ok(!seen.some((u) => u.includes('elsewhere')), 'no request went to the other origin');
  });

  it('rejects a manifest whose input size does not fit the model with MODEL_INCOMPATIBLE', async () => {
    const wrongDim = editManifest((m) => (m.embeddingSize = 1000));
    await assert.rejects(
      loadBackbone(manifestUrl.href, { fetcher: fetcherWith({ 'manifest.json': wrongDim }) }),
      (e) => isEdgetuneError(e, 'MODEL_INCOMPATIBLE') && /1792 features/.test(e.message),
    );
  });

  it('reports a missing manifest file as MODEL_LOAD_FAILED', async () => {
    await assert.rejects(loadBackbone('/nonexistent/dir/manifest.json'), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED'));
  });
});
