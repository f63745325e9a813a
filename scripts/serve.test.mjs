// The demo server answers every malformed request with a 4xx and keeps serving.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve } from './serve.mjs';

/**
 * Sends raw bytes as curl would (without half-closing: Node's server drops a
 * request whose client ends its side first) and returns the answer's status
 * code, 0 when the server closed without one.
 */
function raw(url, request) {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let data = '';
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error(`no answer to ${JSON.stringify(request.slice(0, 60))}`));
    });
    socket.on('data', (d) => (data += d));
    socket.on('error', () => undefined); // a reset after the answer is fine; no answer reads as 0
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    socket.write(request);
  });
}
const get = (url, path) => raw(url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

describe('scripts/serve.mjs', () => {
  let server;
  let outside;
  before(async () => {
    const parent = mkdtempSync(join(tmpdir(), 'edgetune-serve-'));
    const root = join(parent, 'site');
    mkdirSync(root);
    writeFileSync(join(root, 'index.html'), '<p>hi</p>');
    writeFileSync(join(parent, 'secret.txt'), 'secret');
    outside = 'secret.txt';
    // Links inside the served folder: one leading out of it, one to a file inside.
    symlinkSync(join(parent, 'secret.txt'), join(root, 'leak.txt'));
    symlinkSync(parent, join(root, 'up'));
    symlinkSync(join(root, 'index.html'), join(root, 'alias.html'));
    server = await serve(root, { index: 'index.html' });
  });
  after(() => server?.close());

  it('serves files with the cross-origin isolation headers', async () => {
    const r = await fetch(`${server.url}/`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '<p>hi</p>');
    assert.equal(r.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(r.headers.get('cross-origin-embedder-policy'), 'require-corp');
  });

  it('answers malformed percent-encodings with 400 and keeps serving', async () => {
    for (const path of ['/%E0%A4%A', '/%', '/%zz', '/a%00b']) assert.equal(await get(server.url, path), 400, path);
    assert.equal((await fetch(`${server.url}/index.html`)).status, 200);
  });

  it('never serves a file outside the folder, however `..` is encoded', async () => {
    const ups = ['..', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '..%2f..', '%2e%2e%2f%2e%2e', '..%5c..', '%252e%252e', '..\\..'];
    for (const up of ups) {
      const status = await get(server.url, `/${up}/${outside}`);
      assert.ok(status === 400 || status === 404, `${up}: ${status}`);
    }
  });

  it('refuses other methods, oversized headers and garbage request lines', async () => {
    assert.equal((await fetch(`${server.url}/`, { method: 'POST', body: 'x' })).status, 405);
    assert.equal(await raw(server.url, `DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), 405);
    assert.equal(await raw(server.url, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`), 431);
    assert.equal(await raw(server.url, 'NOT HTTP AT ALL\r\n\r\n'), 400);
    assert.equal(await raw(server.url, 'GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n'), 400);
    const head = await fetch(`${server.url}/index.html`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal((await fetch(`${server.url}/index.html`)).status, 200);
  });

  it('never follows a link out of the folder (a link to a file inside is served)', async () => {
    for (const path of ['/leak.txt', '/up/secret.txt']) assert.equal((await fetch(`${server.url}${path}`)).status, 404, path);
    assert.equal(await (await fetch(`${server.url}/alias.html`)).text(), '<p>hi</p>');
  });

  it('keeps a bounded record of requests, however many and however long', async () => {
    const long = `/${'a'.repeat(8 * 1024)}`;
    for (let i = 0; i < 1200; i++) await get(server.url, `${long}${i}`);
    assert.ok(server.requests.length <= 1000, `${server.requests.length} requests recorded`);
    assert.ok(server.requests.every((p) => p.length <= 1024));
  });
});
