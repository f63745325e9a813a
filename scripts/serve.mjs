// A static server for the demo and the e2e suite: serves a folder on 127.0.0.1
// (a secure origin, so navigator.gpu exists) with COOP/COEP (cross-origin
// isolation for WASM threads), correct MIME types, and records every request.
// Node's http module is enough: no dev-server magic the build does not need.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

const MAX_RECORDED = 1000;
const MAX_RECORDED_PATH = 1024;

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
  const server = createServer((req, res) => {
    // Whatever a request holds, it gets an answer and the server keeps serving.
    handle(req, res, root, opts, requests).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' }).end('internal error');
      else res.destroy(err);
    });
  });
  // Malformed request lines, oversized headers, bad framing: answer 400 (431 for
  // headers) when the socket still can, never throw.
  server.on('clientError', (err, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
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

/** The path a request names, or null when it is not a valid percent-encoded path. */
function requestPath(url) {
  try {
    const path = decodeURIComponent(new URL(url ?? '/', 'http://x').pathname);
    return path.includes('\0') ? null : path;
  } catch {
    return null;
  }
}

async function handle(req, res, root, opts, requests) {
  const headers = { 'Cache-Control': 'no-store', 'Cross-Origin-Resource-Policy': 'same-origin' };
  if (opts.isolated !== false) {
    headers['Cross-Origin-Opener-Policy'] = 'same-origin';
    headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
  }
  const fail = (status, text, extra = {}) => res.writeHead(status, { ...headers, 'Content-Type': 'text/plain', ...extra }).end(text);
  if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'method not allowed', { Allow: 'GET, HEAD' });
  const path = requestPath(req.url);
  if (path === null) return fail(400, 'bad request: malformed path');
  // The last requests only, each cut short: a long-running server must not grow with its traffic.
  requests.push(path.slice(0, MAX_RECORDED_PATH));
  if (requests.length > MAX_RECORDED) requests.splice(0, requests.length - MAX_RECORDED);
  let base = root;
  let rel = path;
  for (const [prefix, dir] of Object.entries(opts.extra ?? {})) {
    if (path.startsWith(prefix)) [base, rel] = [dir, path.slice(prefix.length)];
  }
  if (opts.index && rel.endsWith('/')) rel += opts.index;
  // Backslashes are separators to nobody here but would be to a Windows path join: refuse them.
  if (rel.includes('\\')) return fail(400, 'bad request: backslash in path');
  const file = normalize(join(base, rel));
  // After decoding and normalizing, the file must still be inside the served folder.
  if (!file.startsWith(normalize(base + sep))) return fail(404, 'not found');
  // Links inside the folder may point anywhere: what is served is where they lead, and that must be inside too.
  const real = await realpath(file).catch(() => null);
  const realBase = await realpath(base).catch(() => null);
  if (!real || !realBase || !real.startsWith(realBase + sep)) return fail(404, 'not found');
  const info = await stat(real).catch(() => null);
  if (!info?.isFile()) return fail(404, 'not found');
  res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': info.size });
  if (req.method === 'HEAD') return res.end();
  createReadStream(real)
    .on('error', (err) => res.destroy(err))
    .pipe(res);
}
