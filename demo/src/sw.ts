// The demo's service worker: precaches the app shell, the SDK, its worker and
// chunks, the .wasm files and the default backbone at install, then serves
// same-origin GETs cache-first, so the app works offline after the first visit.
// The file list and version are injected at build time (scripts/build-demo.mjs).
declare const __PRECACHE__: string[];
declare const __VERSION__: string;
const sw = self as unknown as ServiceWorkerGlobalScope;
const CACHE = `edgetune-demo-${__VERSION__}`;

sw.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(__PRECACHE__.map((p) => new Request(p, { cache: 'reload' })));
      await sw.skipWaiting();
    })(),
  );
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key.startsWith('edgetune-demo-') && key !== CACHE) await caches.delete(key);
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== location.origin) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      // Navigations fall back to the cached shell; query strings never matter here.
      const hit = (await cache.match(req, { ignoreSearch: true })) ?? (req.mode === 'navigate' ? await cache.match('./') : undefined);
      if (hit) return hit;
      return fetch(req);
    })(),
  );
});
