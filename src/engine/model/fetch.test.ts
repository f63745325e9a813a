// Reading model files over HTTP and from disk, bounded: a response that declares
// or streams more than allowed is stopped, an HTTP error or a refused connection
// is MODEL_LOAD_FAILED naming the URL, and references leave the first origin only
// when allowed.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isEdgetuneError } from '../../errors.js';
import { defaultFetcher, FILE_MAX_BYTES, METADATA_MAX_BYTES, resolveAllowed } from './fetch.js';

describe('defaultFetcher over HTTP', () => {
  let server: Server;
  let base: string;
  const body = new Uint8Array(3000).map((_, i) => i % 251);
  const stalled: { destroy(): void }[] = [];
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/file.bin') return res.end(body);
      if (req.url === '/chunked') {
        res.writeHead(200, { 'transfer-encoding': 'chunked' });
        // Paced, so the client reads several chunks.
        const write = (i: number): unknown => (i < 5 ? (res.write(body.subarray(i * 600, (i + 1) * 600)), setTimeout(() => write(i + 1), 15)) : res.end());
        return write(0);
      }
      if (req.url === '/declares-more') {
        // Declares 5000 bytes, sends 1000, then stalls: only the declared length can refuse it in time.
        res.writeHead(200, { 'content-length': '5000' });
        res.write(body.subarray(0, 1000));
        stalled.push(res);
        return;
      }
      res.statusCode = 404;
      res.end('nope');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    for (const res of stalled) res.destroy();
    server.close();
  });

  it('returns the body whole, up to the bound', async () => {
    assert.deepEqual(await defaultFetcher(new URL(`${base}/file.bin`)), body);
    assert.deepEqual(await defaultFetcher(new URL(`${base}/file.bin`), 3000), body);
  });

  it('refuses a body over the bound by its declared length, and a chunked one as it passes it', async () => {
    await assert.rejects(defaultFetcher(new URL(`${base}/file.bin`), 2999), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && e.message === `${base}/file.bin is 3000 bytes, over the 2999 bytes expected`);
    await assert.rejects(defaultFetcher(new URL(`${base}/chunked`), 2500), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && new RegExp(`^${base}/chunked is (\\d+) bytes, over the 2500 bytes expected$`).test(e.message) && Number(/is (\d+) bytes/.exec(e.message)![1]) > 2500);
    assert.deepEqual(await defaultFetcher(new URL(`${base}/chunked`), 5000), body, 'the chunks in order');
    const stalls = new Promise((_, reject) => setTimeout(() => reject(new Error('read the body instead of refusing its declared length')), 3000).unref());
    await assert.rejects(Promise.race([defaultFetcher(new URL(`${base}/declares-more`), 2000), stalls]), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && e.message === `${base}/declares-more is 5000 bytes, over the 2000 bytes expected`);
  });

  it('names the URL and the status of a failed request', async () => {
    await assert.rejects(defaultFetcher(new URL(`${base}/missing`)), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && e.message === `Cannot fetch ${base}/missing: HTTP 404`);
    await assert.rejects(defaultFetcher(new URL('http://127.0.0.1:9/x')), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && e.message.startsWith('Cannot fetch http://127.0.0.1:9/x: ') && e.cause instanceof Error);
  });

  it('reads file: URLs from disk, bounded by default', async () => {
    const bytes = await defaultFetcher(new URL('../../../package.json', import.meta.url));
    assert.equal(JSON.parse(new TextDecoder().decode(bytes)).name, 'edgetune');
    await assert.rejects(defaultFetcher(new URL('../../../package.json', import.meta.url), 10), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && /over the 10-byte limit/.test(e.message));
    const missing = new URL('./no-such-model.json', import.meta.url);
    await assert.rejects(defaultFetcher(missing), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && e.message.startsWith(`model file ${missing.pathname}: cannot read (ENOENT`) && (e.cause as NodeJS.ErrnoException).code === 'ENOENT');
    assert.equal(FILE_MAX_BYTES, 2 ** 30);
    assert.equal(METADATA_MAX_BYTES, 16 * 2 ** 20);
  });
});

describe('resolveAllowed', () => {
  const base = new URL('https://models.example/a/manifest.json');
  it('resolves relative references on the trusted origin', () => {
    assert.equal(resolveAllowed('model.json', base, base.origin, {}).href, 'https://models.example/a/model.json');
    assert.equal(resolveAllowed('../b/w.bin', base, base.origin, {}).href, 'https://models.example/b/w.bin');
  });
  it('refuses another origin unless listed or "*"', () => {
    assert.throws(() => resolveAllowed('https://cdn.example/w.bin', base, base.origin, {}), (e) => isEdgetuneError(e, 'FORBIDDEN_ORIGIN') && e.message === "Model file https://cdn.example/w.bin is on origin https://cdn.example, but models may only load from https://models.example. Pass allowedOrigins: ['https://cdn.example'] to allow it.");
    assert.throws(() => resolveAllowed('https://cdn.example/w.bin', base, base.origin, { allowedOrigins: ['https://other.example'] }), (e) => isEdgetuneError(e, 'FORBIDDEN_ORIGIN'));
    assert.equal(resolveAllowed('https://cdn.example/w.bin', base, base.origin, { allowedOrigins: ['https://cdn.example'] }).origin, 'https://cdn.example');
    assert.equal(resolveAllowed('https://cdn.example/w.bin', base, base.origin, { allowedOrigins: ['*'] }).origin, 'https://cdn.example');
    assert.throws(() => resolveAllowed('http://[bad', base, base.origin, {}), (e) => isEdgetuneError(e, 'MODEL_LOAD_FAILED') && /Invalid model file reference 'http:\/\/\[bad'/.test(e.message));
  });
});
