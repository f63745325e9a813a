#!/usr/bin/env node
// `npm start`: builds the demo PWA and serves it on http://127.0.0.1:<port>
// (PORT, default 8080; a free port if that one is taken) with COOP/COEP.
import { buildDemo } from './build-demo.mjs';
import { serve } from './serve.mjs';

const { out } = await buildDemo();
const want = Number(process.env.PORT ?? 8080);
let server;
try {
  server = await serve(out, { port: want, index: 'index.html' });
} catch (err) {
  if (err?.code !== 'EADDRINUSE') throw err;
  console.log(`[edgetune] port ${want} is in use; picking a free one`);
  server = await serve(out, { index: 'index.html' });
}
console.log(`[edgetune] demo running at ${server.url}/  (Ctrl+C to stop)`);
