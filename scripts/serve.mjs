// A static server for the demo and the e2e suite: serves a folder on 127.0.0.1
// (a secure origin, so navigator.gpu exists) with COOP/COEP (cross-origin
// isolation for WASM threads), correct MIME types, and records every request.
// Node's http module is enough: no dev-server magic the build does not need.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.map': 'application/json',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webmanifest': 'application/manifest+json',
  '.y4m': 'application/octet-stream',
};

/**
 * @param {string} root folder to serve
 * @param {{ isolated?: boolean, extra?: Record<string, string>, port?: number, index?: string }} opts
 *   extra: URL path prefix -> folder; index: file served for '/'-ending paths
 * @returns {Promise<{ url: string, requests: string[], close(): Promise<void> }>}
 */
export async function serve(root, opts = {}) {
  const requests = [];
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    let base = root;
    let rel = path;
    for (const [prefix, dir] of Object.entries(opts.extra ?? {})) {
      if (path.startsWith(prefix)) [base, rel] = [dir, path.slice(prefix.length)];
    }
    if (opts.index && rel.endsWith('/')) rel += opts.index;
    const file = normalize(join(base, rel));
    const headers = { 'Cache-Control': 'no-store', 'Cross-Origin-Resource-Policy': 'same-origin' };
    if (opts.isolated !== false) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    const info = file.startsWith(normalize(base + sep)) ? await stat(file).catch(() => null) : null;
    if (!info?.isFile()) {
      res.writeHead(404, headers).end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': info.size });
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
